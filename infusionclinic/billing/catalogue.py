"""The service catalogue file (data/services.json): the codes the clinic bills, and the codes it
must not bill for IV racemic ketamine (codes.md CODE-PX9 G2082/G2083 and CODE-PX10 S0013/J0013:
esketamine nasal spray codes, listed for reference only)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

DATA_FILE = Path(__file__).resolve().parent / "data" / "services.json"


@cache
def catalogue() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    return data


def not_for_iv_ketamine(code: str) -> dict[str, str] | None:
    """The reason a code is never billed for IV ketamine (CODE-PX9, CODE-PX10), or None."""
    normalized = (code or "").strip().upper()
    for row in catalogue()["not_for_iv_ketamine"]:
        if row["code"] == normalized:
            return dict(row)
    return None


def refusal(code: str) -> str | None:
    """The error a staff member sees for an esketamine code on a ketamine clinic's bill."""
    row = not_for_iv_ketamine(code)
    if row is None:
        return None
    return (
        f"{row['code']} is an esketamine (Spravato) code ({row['why']}, {row['rule']}): "
        "not billed for IV racemic ketamine."
    )
