"""CSV cells that are safe to open in a spreadsheet program (one helper for every export)."""

from __future__ import annotations

from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: str) -> str:
    # A cell starting with = + - @ (or a tab/CR) runs as a formula in spreadsheet programs.
    return "'" + value if value[:1] in FORMULA_STARTS else value


def csv_safe_row(row: Iterable[object]) -> list[object]:
    """A row with its text cells made formula-safe; numbers, dates and None stay as they are
    (a number cannot carry a formula, and a negative one must stay a number)."""
    return [csv_safe(cell) if isinstance(cell, str) else cell for cell in row]
