from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks


def check_ketamine_scd(**kwargs: Any) -> list[checks.CheckMessage]:
    """FHIR_KETAMINE_SCD_RXCUI must be one of the SCDs codes.md CODE-RX2 lists (never a code
    typed from memory)."""
    from infusionclinic.controlled.reference import ketamine_reference

    scd = settings.FHIR_KETAMINE_SCD_RXCUI
    known = ketamine_reference()["clinical_drug_rxcuis"]["rxcuis"]
    if scd and scd not in known:
        return [
            checks.Error(
                f"FHIR_KETAMINE_SCD_RXCUI={scd!r} is not a ketamine injection SCD of codes.md "
                f"CODE-RX2 ({', '.join(known)}).",
                id="fhir.E001",
            )
        ]
    return []


class FhirConfig(AppConfig):
    name = "infusionclinic.fhir"
    label = "fhir"

    def ready(self) -> None:
        checks.register(check_ketamine_scd)
