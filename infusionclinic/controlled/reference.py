"""The ketamine product reference data of codes.md §5 (data/ketamine_reference.json): RxNorm
(CODE-RX1..RX3), example NDCs (CODE-RX4), UNII (CODE-RX5), DEA schedule (CODE-RX6) and the vial
strengths on the label (CODE-RX7).

A receipt is checked against it: a strength not sold as a ketamine vial, or a known NDC entered
with another strength or volume, is a warning for the person receiving (the NDC as printed is the
record; the reference list is short and may lag the market), not a refusal.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

DATA_FILE = Path(__file__).resolve().parent / "data" / "ketamine_reference.json"


@cache
def ketamine_reference() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    return data


def vial_strengths_mg_per_ml() -> tuple[Decimal, ...]:
    """CODE-RX7: 10, 50, 100 mg/mL (base)."""
    return tuple(Decimal(v) for v in ketamine_reference()["vial_strengths_mg_per_ml"]["values"])


def known_product(ndc: str) -> dict[str, Any] | None:
    """CODE-RX4: the example product whose labeler-product part the package NDC starts with."""
    prefix = "-".join((ndc or "").strip().split("-")[:2])
    for product in ketamine_reference()["example_products"]["products"]:
        if product["ndc_prefix"] == prefix:
            return dict(product)
    return None


def receipt_warnings(*, ndc: str, strength_mg_per_ml: Any, container_ml: Any) -> list[str]:
    """What to check again on a vial received with these values (CODE-RX4, CODE-RX7)."""
    try:
        strength = Decimal(str(strength_mg_per_ml))
        container = Decimal(str(container_ml))
    except InvalidOperation:
        return []
    warnings: list[str] = []
    if strength not in vial_strengths_mg_per_ml():
        sold = ", ".join(str(v) for v in vial_strengths_mg_per_ml())
        warnings.append(
            f"{strength} mg/mL is not a strength ketamine vials are sold in ({sold} mg/mL, "
            "CODE-RX7): check the label."
        )
    known = known_product(ndc)
    if known and (
        Decimal(known["strength_mg_per_ml"]) != strength
        or Decimal(known["container_ml"]) != container
    ):
        warnings.append(
            f"NDC {known['ndc_prefix']} is listed as {known['labeler']} "
            f"{known['strength_mg_per_ml']} mg/mL × {known['container_ml']} mL (CODE-RX4); this "
            f"receipt says {strength} mg/mL × {container} mL: check the label."
        )
    return warnings
