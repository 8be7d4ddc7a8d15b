"""Controlled-substance settings (controlled-substances.md). Unverified (⚠️) values are settings
with the document's default."""

from datetime import date
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def witness_roles() -> frozenset[str]:
    """CS-44: roles whose users may witness waste, destruction and corrections ("licensed")."""
    return frozenset(getattr(settings, "CONTROLLED_WITNESS_ROLES", ("nurse", "prescriber")))


def late_entry_minutes() -> int:
    """CS-45: an entry whose event time is more than this before its entry time is flagged as
    back-dated (default 60 ⚠️)."""
    return int(getattr(settings, "CONTROLLED_LATE_ENTRY_MINUTES", 60))


def variance_tolerance_ml() -> Decimal:
    """§7 step 4: an estimated open-vial count within this many mL is noted, not a discrepancy
    (default 0.5 mL ⚠️). Exact (sealed/measured) counts have zero tolerance."""
    return Decimal(str(getattr(settings, "CONTROLLED_VARIANCE_TOLERANCE_ML", "0.5")))


def registration_warn_days() -> int:
    """§4 Registration: show a renewal warning this many days before the DEA registration
    expires. No document gives a number: clinic setting, default 90 (unverified ⚠️)."""
    return int(getattr(settings, "CONTROLLED_REGISTRATION_WARN_DAYS", 90))


def form106_days() -> int:
    """CS-13: DEA Form 106 within 45 days of discovery (federal, since 24 Jul 2023)."""
    return int(getattr(settings, "CONTROLLED_FORM106_DAYS", 45))


def mdv_remainder_is_wastage() -> bool:
    """CS-21 ⚠️: whether a multiple-dose vial's remainder discarded right after a patient's dose
    is wastage (CS-15: witnessed waste, not on Form 41) or inventory (CS-17: Form 41 with two
    witnesses, or a reverse distributor). Unsettled by the sources: default False (inventory)."""
    return bool(getattr(settings, "CONTROLLED_MDV_REMAINDER_IS_WASTAGE", False))


def administration_tolerance_mg() -> Decimal:
    """CS-32, CS-43: how many mg the administration in the log may differ from the pump's dose
    given (running time × rate × concentration) before the difference is named on the session.
    No document gives a number: default 0 (any difference beyond the ledger's 0.01 mL rounding
    is shown), the conservative choice; a clinic may allow for line dead space."""
    return Decimal(str(getattr(settings, "CONTROLLED_ADMINISTRATION_TOLERANCE_MG", "0")))


def extra_closed_days() -> frozenset[date]:
    """CS-13: days that are not business days besides weekends and US federal holidays (state
    holidays, clinic closures), from `CONTROLLED_EXTRA_CLOSED_DAYS` (ISO dates; default none)."""
    raw = getattr(settings, "CONTROLLED_EXTRA_CLOSED_DAYS", ()) or ()
    days = set()
    for value in raw:
        if isinstance(value, date):
            days.add(value)
            continue
        try:
            days.add(date.fromisoformat(str(value).strip()))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"CONTROLLED_EXTRA_CLOSED_DAYS: {value!r} is not an ISO date (YYYY-MM-DD)."
            ) from exc
    return frozenset(days)


# The federal floor of CS-6: every controlled-substance record is kept at least 2 years
# (21 USC 827(b)); a setting below it is refused.
FEDERAL_RETENTION_FLOOR_YEARS = 2


def retention_years() -> int:
    """CS-6, CS-7 ⚠️: how many years controlled-substance records are kept from their date
    (`CONTROLLED_RETENTION_YEARS`, default 5 as some states require; never below the federal
    2). Nothing is ever purged automatically (CS-46)."""
    years = int(getattr(settings, "CONTROLLED_RETENTION_YEARS", 5))
    if years < FEDERAL_RETENTION_FLOOR_YEARS:
        raise ImproperlyConfigured(
            f"CONTROLLED_RETENTION_YEARS={years}: CS-6 keeps controlled-substance records at "
            f"least {FEDERAL_RETENTION_FLOOR_YEARS} years."
        )
    return years


def mdv_bud_days() -> int:
    """CS-25 ⚠️: an opened multiple-dose vial's beyond-use date, in days after its first
    puncture, unless the labeler says otherwise (`CONTROLLED_MDV_BUD_DAYS`, default 28; sources
    secondary only). Must be at least 1."""
    days = int(getattr(settings, "CONTROLLED_MDV_BUD_DAYS", 28))
    if days < 1:
        raise ImproperlyConfigured("CONTROLLED_MDV_BUD_DAYS must be at least 1 (CS-25).")
    return days
