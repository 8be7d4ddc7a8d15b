"""The ICD-10-CM table the chart accepts, loaded once from data/icd10cm.csv.

../shared/domain/codes.md CODE-DX-R1: a diagnosis must be a billable (leaf) code. The file ships the
codes this clinic's indications and screening rules use (CODE-DX1..DX17); a clinic that needs the
full CMS release for the fiscal year replaces the file (same columns) — no code change.
"""

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA_FILE = Path(__file__).parent / "data" / "icd10cm.csv"
SYSTEM_URI = "http://hl7.org/fhir/sid/icd-10-cm"


@dataclass(frozen=True)
class Icd10Code:
    code: str
    billable: bool
    description: str
    rule: str


@cache
def icd10_table() -> dict[str, Icd10Code]:
    with DATA_FILE.open(newline="", encoding="utf-8") as fh:
        return {
            row["code"]: Icd10Code(
                code=row["code"],
                billable=row["billable"] == "1",
                description=row["description"],
                rule=row["rule"],
            )
            for row in csv.DictReader(fh)
        }


class Icd10Error(ValueError):
    pass


def icd10_lookup_billable(code: str) -> Icd10Code:
    normalized = code.strip().upper()
    entry = icd10_table().get(normalized)
    if entry is None:
        raise Icd10Error(f"{code!r} is not an ICD-10-CM code this clinic's table knows.")
    if not entry.billable:
        raise Icd10Error(
            f"{entry.code} ({entry.description}) is a category, not a billable code; "
            "choose a more specific code (CODE-DX-R1)."
        )
    return entry
