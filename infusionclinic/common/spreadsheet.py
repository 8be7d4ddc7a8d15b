"""CSV cells that are safe to open in a spreadsheet program (one helper for every export)."""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: str) -> str:
    # A cell starting with = + - @ (or a tab/CR) runs as a formula in spreadsheet programs.
    return "'" + value if value[:1] in FORMULA_STARTS else value
