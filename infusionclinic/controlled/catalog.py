"""CS-22, CS-23: the ketamine products this log knows (data/ketamine_products.json): example
package NDCs with their strength and vial volume (and, for reference, the US presentations). The
receiving form checks what is typed against them: a listed NDC received with another strength or
volume is refused at the edge (a typo that CS-48 would otherwise freeze for good)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path


@dataclass(frozen=True)
class KnownProduct:
    ndc: str
    name: str
    labeler: str
    strength_mg_per_ml: Decimal
    container_ml: Decimal
    containers_per_package: int


@cache
def _data() -> dict:
    return json.loads((Path(__file__).parent / "data" / "ketamine_products.json").read_text())


def known_products() -> dict[str, KnownProduct]:
    """CS-23: the listed package NDCs, by NDC as printed."""
    return {
        row["ndc"]: KnownProduct(
            ndc=row["ndc"],
            name=row["name"],
            labeler=row["labeler"],
            strength_mg_per_ml=Decimal(row["strength_mg_per_ml"]),
            container_ml=Decimal(row["container_ml"]),
            containers_per_package=int(row["containers_per_package"]),
        )
        for row in _data()["products"]
    }


def product_mismatch(ndc: str, strength_mg_per_ml: Decimal, container_ml: Decimal) -> str | None:
    """CS-23: why a listed NDC cannot have this strength/volume, or None."""
    known = known_products().get((ndc or "").strip())
    if known is None:
        return None
    if (known.strength_mg_per_ml, known.container_ml) == (
        Decimal(strength_mg_per_ml),
        Decimal(container_ml),
    ):
        return None
    labeler = f" ({known.labeler})" if known.labeler else ""
    strength, volume = known.strength_mg_per_ml.normalize(), known.container_ml.normalize()
    return (
        f"CS-23: NDC {known.ndc} is {known.name}{labeler} {strength} mg/mL × {volume} mL vials;"
        " check the strength and vial volume against the carton."
    )
