"""codes.md §4 (CODE-PX) in the service catalogue and on invoices (issue 21 part 2: each CODE-PX
id the code implements is pinned by a test that fails if the catalogue or the rule changes)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from infusionclinic.billing import services
from infusionclinic.billing.catalogue import catalogue, not_for_iv_ketamine
from infusionclinic.billing.models import BillableService, Invoice
from infusionclinic.billing.services import LineInput
from tests.factories import PatientFactory, make_user

from .factories import completed_appointment, price

pytestmark = pytest.mark.django_db

CATALOGUE = {
    "96365": "CODE-PX1",
    "96366": "CODE-PX2",
    "96374": "CODE-PX3",
    "96367": "CODE-PX4",
    "96368": "CODE-PX4",
    "96375": "CODE-PX5",
    "99204": "CODE-PX6",
    "99214": "CODE-PX6",
    "90791": "CODE-PX7",
    "J3490": "CODE-PX8",
}


def test_code_px1_to_px8_catalogue_codes_and_rule_ids_are_the_domains():
    """The file and the seeded rows (migrations 0002 and 0005) carry the same codes and rules."""
    assert {row["code"]: row["rule"] for row in catalogue()["services"]} == CATALOGUE
    seeded = dict(BillableService.objects.values_list("code", "rule_id"))
    assert {code: seeded.get(code) for code in CATALOGUE} == CATALOGUE
    # CODE-PX-R1: only the pump-derived infusion codes are timed.
    timed = set(BillableService.objects.filter(timed=True).values_list("code", flat=True))
    assert timed == {"96365", "96366"}


def test_code_px_r2_labels_are_short_clinic_labels():
    for row in catalogue()["services"]:
        assert 0 < len(row["label"]) <= 80


@pytest.mark.parametrize(
    ("code", "rule"),
    [("G2082", "CODE-PX9"), ("G2083", "CODE-PX9"), ("S0013", "CODE-PX10"), ("J0013", "CODE-PX10")],
)
def test_code_px9_px10_esketamine_codes_are_never_billed_for_iv_ketamine(location, code, rule):
    assert not_for_iv_ketamine(code.lower())["rule"] == rule
    assert code not in CATALOGUE
    desk = make_user("front_desk", location)
    patient = PatientFactory(home_location=location)
    appointment = completed_appointment(patient, location, kind="consultation")
    with pytest.raises(ValidationError) as exc:
        services.invoice_create(actor=desk, appointment=appointment, lines=[LineInput(code, 1)])
    assert rule in str(exc.value)
    assert "esketamine" in str(exc.value)
    assert not Invoice.objects.exists()


def test_code_px5_px7_px8_bill_with_their_units(location):
    desk = make_user("front_desk", location)
    patient = PatientFactory(home_location=location)
    for code, amount in (("96375", "60.00"), ("90791", "250.00"), ("J3490", "35.50")):
        price(location, code, amount)
    appointment = completed_appointment(patient, location, kind="consultation")
    invoice = services.invoice_create(
        actor=desk,
        appointment=appointment,
        lines=[LineInput("96375", 1), LineInput("90791", 1), LineInput("J3490", 2)],
    )
    lines = {line.service.code: line.units for line in invoice.lines.select_related("service")}
    assert lines == {"96375": 1, "90791": 1, "J3490": 2}
