"""Dosing settings. Each LIM-* threshold of dosing.md is a setting (DOSING_LIMITS, a dict of
`DosingLimits` field names to numbers) so a clinic can change an unverified (⚠️) default without a
code change; WT-8's freshness window is DOSING_WEIGHT_MAX_AGE_DAYS."""

from dataclasses import fields, replace
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .calculator import DEFAULT_LIMITS, DosingLimits

WEIGHT_MAX_AGE_DAYS_DEFAULT = 30  # WT-8 ⚠️


def dosing_limits() -> DosingLimits:
    overrides = getattr(settings, "DOSING_LIMITS", {}) or {}
    known = {f.name for f in fields(DosingLimits)}
    unknown = set(overrides) - known
    if unknown:
        raise ImproperlyConfigured(f"DOSING_LIMITS has unknown keys: {sorted(unknown)}")
    return replace(
        DEFAULT_LIMITS,
        **{k: (None if v is None else Decimal(str(v))) for k, v in overrides.items()},
    )


def weight_max_age_days() -> int:
    """WT-8: a weight older than this many days before the order must be measured again."""
    return int(getattr(settings, "DOSING_WEIGHT_MAX_AGE_DAYS", WEIGHT_MAX_AGE_DAYS_DEFAULT))
