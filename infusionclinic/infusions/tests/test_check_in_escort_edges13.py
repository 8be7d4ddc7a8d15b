"""Issue 21 point 3, PRE-5: the usual escort accepted from the intake into the chart is where
check-in starts; the escort the patient confirmed for this visit comes first."""

from __future__ import annotations

import pytest

from infusionclinic.intake.chart_offers import intake_offer_accept
from tests.factories import logged_in_client

pytestmark = pytest.mark.django_db


def test_check_in_starts_from_the_escort_accepted_from_the_intake(nurse, patient, session):
    page = logged_in_client(nurse).get(f"/infusions/sessions/{session.pk}/")
    assert b'value="Sam Rivera"' not in page.content

    intake_offer_accept(actor=nurse, patient=patient, key="escort")  # "Sam Rivera", 555-0111
    page = logged_in_client(nurse).get(f"/infusions/sessions/{session.pk}/")
    assert page.status_code == 200
    assert b'name="escort_name" value="Sam Rivera"' in page.content
    assert b'name="escort_phone" value="555-0111"' in page.content


def test_the_escort_confirmed_for_the_visit_comes_before_the_usual_one(nurse, patient, session):
    intake_offer_accept(actor=nurse, patient=patient, key="escort")
    session.escort_name, session.escort_phone = "Visit Escort", "555-0177"
    session.save(update_fields=["escort_name", "escort_phone"])
    page = logged_in_client(nurse).get(f"/infusions/sessions/{session.pk}/")
    assert b'name="escort_name" value="Visit Escort"' in page.content
