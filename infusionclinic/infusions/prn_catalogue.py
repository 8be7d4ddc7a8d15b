"""The PRN medicines a standing order may list, as data (data/prn_medicines.json; STYLE habit 5).
A leaf module: the models read a medicine's name from it without importing the PRN services
(issue 22 point 10: no models ⇄ prn import circle)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path


@dataclass(frozen=True)
class PrnMedicine:
    id: str
    name: str
    rxnorm: str | None  # RxNorm ingredient (unverified; None where none was confirmed)
    indication: str
    rule_ids: tuple[str, ...]
    unit: str
    routes: tuple[str, ...]
    default_route: str
    default_dose: Decimal  # unverified clinic default, a starting value for the prescriber
    default_max_per_session: Decimal  # unverified clinic default
    controlled_schedule: str | None


@cache
def prn_medicines() -> dict[str, PrnMedicine]:
    """The PRN medicines a standing order may list (data/prn_medicines.json). Every dose and
    maximum in the file is UNVERIFIED (no domain file gives one); the signed order's count."""
    data = json.loads((Path(__file__).parent / "data" / "prn_medicines.json").read_text())
    return {
        m["id"]: PrnMedicine(
            id=m["id"],
            name=m["name"],
            rxnorm=m.get("rxnorm"),
            indication=m["indication"],
            rule_ids=tuple(m.get("rule_ids", ())),
            unit=m["unit"],
            routes=tuple(m["routes"]),
            default_route=m["default_route"],
            default_dose=Decimal(m["default_dose"]),
            default_max_per_session=Decimal(m["default_max_per_session"]),
            controlled_schedule=m.get("controlled_schedule"),
        )
        for m in data["medicines"]
    }
