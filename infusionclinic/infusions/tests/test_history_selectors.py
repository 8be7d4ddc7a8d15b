"""What the other capabilities read of the sessions: infusion dates on the progress charts
(issue 5), side effects and pre-infusion blood pressure on the order screen (issue 6) and in the
referring provider's report (issue 9)."""

import pytest
from django.urls import reverse

from infusionclinic.infusions import services
from infusionclinic.infusions.selectors import (
    infusion_dates,
    pre_infusion_readings,
    side_effects_for_patient,
)
from tests.factories import logged_in_client

from .factories import NORMAL, infusing

pytestmark = pytest.mark.django_db


def test_an_infused_session_marks_its_date_and_feeds_the_titration_history(
    nurse, prescriber, patient, session
):
    infusing(nurse, session)  # checks in, pre-checks with NORMAL vitals, starts the pump
    services.side_effect_record(actor=nurse, session=session, code="AE-1", grade=2)

    dates = infusion_dates(patient=patient)
    assert len(dates) == 1
    (effect,) = side_effects_for_patient(patient=patient)
    assert (effect.code, effect.grade) == ("AE-1", 2)
    (reading,) = pre_infusion_readings(patient=patient)
    assert (reading.systolic_mmhg, reading.diastolic_mmhg) == (
        NORMAL["systolic_mmhg"],
        NORMAL["diastolic_mmhg"],
    )

    orders = (
        logged_in_client(prescriber)
        .get(reverse("dosing:patient_orders", args=[patient.pk]))
        .content.decode()
    )
    assert "AE-1 grade 2" in orders
    assert f"{NORMAL['systolic_mmhg']}/{NORMAL['diastolic_mmhg']} mmHg before" in orders
    report = logged_in_client(prescriber).get(f"/patients/{patient.pk}/report/").content.decode()
    assert "AE-1 grade 2" in report
