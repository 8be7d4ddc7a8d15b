"""CS-25 on the ledger page: the lot's open vial with its remaining mL and beyond-use date."""

from django import template
from django.utils import timezone

from ..bud import open_vial

register = template.Library()


@register.simple_tag
def cs_open_vial(lot) -> str:  # type: ignore[no-untyped-def]
    vial = open_vial(lot)
    if vial is None:
        return "sealed vials only"
    if vial.beyond_use_at is None:
        return f"open vial {vial.remaining_ml} mL"
    tz = lot.location.tzinfo
    past = (
        " — past its beyond-use date: destroy the remainder"
        if vial.past_bud(timezone.now())
        else ""
    )
    return (
        f"open vial {vial.remaining_ml} mL, beyond use "
        f"{vial.beyond_use_at.astimezone(tz):%Y-%m-%d %H:%M}{past}"
    )
