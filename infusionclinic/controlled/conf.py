"""Controlled-substance settings (controlled-substances.md). Unverified (⚠️) values are settings
with the document's default."""

from decimal import Decimal

from django.conf import settings


def witness_roles() -> frozenset[str]:
    """CS-44: roles whose users may witness waste, destruction and corrections ("licensed")."""
    return frozenset(getattr(settings, "CONTROLLED_WITNESS_ROLES", ("nurse", "prescriber")))


def variance_tolerance_ml() -> Decimal:
    """§7 step 4: an estimated open-vial count within this many mL is noted, not a discrepancy
    (default 0.5 mL ⚠️). Exact (sealed/measured) counts have zero tolerance."""
    return Decimal(str(getattr(settings, "CONTROLLED_VARIANCE_TOLERANCE_ML", "0.5")))
