"""Issue 21 point 13: PRN medicines given in the chair under a prescriber-signed standing order
(data/prn_medicines.json; doses unverified), on the session, the note and FHIR."""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from infusionclinic.audit.models import AuditEvent
from infusionclinic.fhir.resources import resources_for, validate
from infusionclinic.infusions import prn, services
from infusionclinic.infusions.models import InfusionSession
from infusionclinic.infusions.prn_models import MedicationAdministration, StandingOrder
from infusionclinic.patients.models import Patient
from tests.factories import PASSWORD, api_client, logged_in_client, make_user

from .factories import checked_in, cs_closed, infusing, shift_back

ONDANSETRON = {
    "medicine": "ondansetron",
    "dose": "4",
    "route": "IV",
    "max_per_session": "8",
    "indication": "Nausea or vomiting",
}


def _sign(prescriber, patient, *lines, **kw):
    return prn.standing_order_sign(
        actor=prescriber,
        patient=patient,
        lines=list(lines or [ONDANSETRON]),
        password=PASSWORD,
        **kw,
    )


def test_data_file_lists_the_issues_prn_medicines_each_marked_unverified():
    meds = prn.prn_medicines()
    assert {"ondansetron", "labetalol", "clonidine", "midazolam"} <= set(meds)
    for med in meds.values():
        assert med.unit == "mg"
        assert med.default_route in med.routes
        assert med.default_dose <= med.default_max_per_session
    assert "MON-X-1" in meds["midazolam"].rule_ids  # benzodiazepine for severe distress
    raw = (Path(prn.__file__).parent / "data" / "prn_medicines.json").read_text()
    assert "UNVERIFIED" in raw


def test_standing_order_sign_needs_a_prescriber_and_reauthentication(prescriber, nurse, patient):
    with pytest.raises(PermissionDenied):
        prn.standing_order_sign(
            actor=nurse, patient=patient, lines=[ONDANSETRON], password=PASSWORD
        )
    with pytest.raises(ValidationError) as exc:
        prn.standing_order_sign(actor=prescriber, patient=patient, lines=[ONDANSETRON])
    assert "password" in exc.value.message_dict
    with pytest.raises(ValidationError):
        prn.standing_order_sign(
            actor=prescriber, patient=patient, lines=[ONDANSETRON], password="wrong"
        )
    order = _sign(prescriber, patient)
    assert order.signed_by == prescriber
    assert order.sign_method == "password"
    line = order.lines.get()
    assert (line.medicine, line.dose, line.unit, line.route) == ("ondansetron", 4, "mg", "IV")
    event = AuditEvent.objects.filter(detail__event="standing_order_sign").get()
    assert event.patient_id == patient.pk
    assert event.detail["lines"][0]["max_per_session"] == "8"


def test_standing_order_refuses_unknown_medicine_wrong_route_and_max_below_dose(
    prescriber, patient
):
    with pytest.raises(ValidationError) as exc:
        _sign(
            prescriber,
            patient,
            {**ONDANSETRON, "medicine": "fentanyl"},
            {"medicine": "clonidine", "dose": "0.1", "route": "IV", "max_per_session": "0.2"},
            {"medicine": "midazolam", "dose": "2", "route": "IV", "max_per_session": "1"},
        )
    errors = exc.value.message_dict
    assert "fentanyl" in errors
    assert "clonidine_route" in errors
    assert "midazolam_max_per_session" in errors


def test_prn_administer_records_drug_dose_route_time_by_whom_and_why_audited(
    prescriber, nurse, session
):
    _sign(prescriber, session.patient)
    infusing(nurse, session)
    given = prn.prn_administer(
        actor=nurse,
        session=session,
        medicine="ondansetron",
        dose="4",
        route="IV",
        reason="Nausea at 20 min (AE-4 grade 2)",
    )
    given.refresh_from_db()
    assert (given.medicine, given.dose, given.unit, given.route) == (
        "ondansetron",
        Decimal("4.000"),
        "mg",
        "IV",
    )
    assert given.given_by == nurse
    assert given.reason.startswith("Nausea")
    assert abs(given.given_at - timezone.now()) < timedelta(minutes=1)
    event = AuditEvent.objects.filter(detail__event="prn_administer").get()
    assert (event.actor_id, event.patient_id, event.detail["dose"]) == (
        nurse.pk,
        session.patient_id,
        "4",
    )


def test_prn_administer_refuses_a_drug_not_in_a_signed_standing_order(prescriber, nurse, session):
    checked_in(nurse, session)
    with pytest.raises(ValidationError) as exc:
        prn.prn_administer(
            actor=nurse, session=session, medicine="ondansetron", dose="4", route="IV", reason="x"
        )
    assert "not in a signed standing order" in exc.value.message_dict["medicine"][0]
    order = _sign(prescriber, session.patient)
    with pytest.raises(ValidationError) as exc:  # signed, but midazolam is not on it
        prn.prn_administer(
            actor=nurse, session=session, medicine="midazolam", dose="1", route="IV", reason="x"
        )
    assert "medicine" in exc.value.message_dict
    prn.standing_order_revoke(actor=prescriber, standing_order=order, reason="changed plan")
    with pytest.raises(ValidationError):  # revoked orders allow nothing
        prn.prn_administer(
            actor=nurse, session=session, medicine="ondansetron", dose="4", route="IV", reason="x"
        )
    assert not MedicationAdministration.objects.exists()


def test_prn_administer_refuses_a_dose_above_the_max_counting_what_was_given(
    prescriber, nurse, session
):
    _sign(prescriber, session.patient)
    checked_in(nurse, session)
    with pytest.raises(ValidationError) as exc:
        prn.prn_administer(
            actor=nurse, session=session, medicine="ondansetron", dose="9", route="IV", reason="x"
        )
    assert "maximum" in exc.value.message_dict["dose"][0]
    for _ in range(2):
        prn.prn_administer(
            actor=nurse, session=session, medicine="ondansetron", dose="4", route="IV", reason="x"
        )
    with pytest.raises(ValidationError) as exc:  # 8 mg given: the session's maximum is reached
        prn.prn_administer(
            actor=nurse,
            session=session,
            medicine="ondansetron",
            dose="0.5",
            route="IV",
            reason="x",
        )
    assert "8 mg already given" in exc.value.message_dict["dose"][0]
    with pytest.raises(ValidationError) as exc:
        prn.prn_administer(
            actor=nurse, session=session, medicine="ondansetron", dose="1", route="PO", reason="x"
        )
    assert "route" in exc.value.message_dict


def test_prn_administer_refuses_outside_the_chair_front_desk_and_future_times(
    prescriber, nurse, session, location
):
    _sign(prescriber, session.patient)
    args = {"medicine": "ondansetron", "dose": "4", "route": "IV", "reason": "nausea"}
    with pytest.raises(ValidationError):  # scheduled: not checked in yet
        prn.prn_administer(actor=nurse, session=session, **args)
    checked_in(nurse, session)
    with pytest.raises(PermissionDenied):
        prn.prn_administer(actor=make_user("front_desk", location), session=session, **args)
    with pytest.raises(ValidationError) as exc:
        prn.prn_administer(
            actor=nurse, session=session, given_at=timezone.now() + timedelta(hours=1), **args
        )
    assert "given_at" in exc.value.message_dict


def test_a_per_course_standing_order_applies_only_to_that_courses_sessions(
    prescriber, nurse, session
):
    from infusionclinic.courses.services import course_start

    other = course_start(
        actor=prescriber,
        patient=session.patient,
        indication="depression",
        primary_instrument="PHQ-9",
    )
    assert session.order.course_id != other.pk
    _sign(prescriber, session.patient, course=other)
    checked_in(nurse, session)
    assert prn.standing_order_lines_for_session(session) == []
    with pytest.raises(ValidationError):
        prn.prn_administer(
            actor=nurse, session=session, medicine="ondansetron", dose="4", route="IV", reason="x"
        )


def _given_and_discharged(prescriber, nurse, session):
    from .factories import GOOD_ALDRETE, GOOD_PADSS

    _sign(prescriber, session.patient)
    infusing(nurse, session)
    prn.prn_administer(
        actor=nurse,
        session=session,
        medicine="ondansetron",
        dose="4",
        route="IV",
        reason="Nausea during infusion",
    )
    services.pump_event_record(
        actor=nurse, session=session, action="stop", stop_reason="patient_request"
    )
    services.discharge_score_record(
        actor=nurse, session=session, aldrete=GOOD_ALDRETE, padss=GOOD_PADSS
    )
    session.refresh_from_db()
    cs_closed(nurse, session)  # issue 21 point 6: administration and waste before discharge
    shift_back(session, 61)
    services.session_discharge(actor=nurse, session=session, escort_name="Sam")
    session.refresh_from_db()
    return session


def test_note_lists_prn_medicines_given_with_dose_route_time_nurse_and_reason(
    prescriber, nurse, session
):
    _given_and_discharged(prescriber, nurse, session)
    body = services.note_generate(actor=nurse, session=session).body
    assert "PRN medicines given under standing orders:" in body
    line = next(ln for ln in body.splitlines() if "Ondansetron" in ln)
    assert "4 mg IV" in line
    assert str(nurse) in line
    assert "Nausea during infusion" in line
    assert "signed by" in line


def test_prn_given_maps_to_a_valid_fhir_medication_administration(prescriber, nurse, session):
    _given_and_discharged(prescriber, nurse, session)
    given = MedicationAdministration.objects.get()
    patients = Patient.objects.filter(pk=session.patient_id)
    found = [
        validate(r)
        for r in resources_for(patients, resource_type="MedicationAdministration")
        if r["id"].startswith("prn-")
    ]
    assert len(found) == 1
    resource = found[0]
    assert resource["id"] == f"prn-{given.pk}"
    assert resource["status"] == "completed"
    assert resource["medicationCodeableConcept"]["coding"][0]["code"] == "26225"
    assert resource["context"] == {"reference": f"Encounter/session-{session.pk}"}
    assert resource["dosage"]["dose"] == {
        "value": 4.0,
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg",
    }
    assert resource["dosage"]["route"]["text"] == "IV"
    assert resource["reasonCode"][0]["text"] == "Nausea during infusion"
    assert resource["effectiveDateTime"] == given.given_at.isoformat()
    # The REST interface serves it as well.
    r = api_client(nurse).get(f"/fhir/Patient/{session.patient_id}/$everything?_count=100")
    assert r.status_code == 200
    assert f"prn-{given.pk}" in [e["resource"]["id"] for e in r.json()["entry"]]


# --- Pages ---------------------------------------------------------------------------------


def test_prescriber_signs_a_standing_order_on_the_patients_page_nurse_reads_it(
    prescriber, nurse, patient, location
):
    url = f"/infusions/patients/{patient.pk}/standing-orders/"
    client = logged_in_client(prescriber)
    page = client.get(url).content.decode()
    assert "unverified" in page
    assert 'id="prn-ondansetron"' in page
    assert 'id="prn-midazolam"' in page
    post = {
        "ondansetron_include": "on",
        "ondansetron_dose": "4",
        "ondansetron_route": "IV",
        "ondansetron_max_per_session": "8",
        "ondansetron_indication": "Nausea or vomiting",
        "password": PASSWORD,
    }
    refused = client.post(url, {**post, "password": "wrong"})
    assert refused.status_code == 400
    assert not StandingOrder.objects.exists()
    assert client.post(url, post).status_code == 302
    order = StandingOrder.objects.get()
    assert order.lines.get().medicine == "ondansetron"
    nurse_page = logged_in_client(nurse).get(url)
    assert nurse_page.status_code == 200
    html = nurse_page.content.decode()
    assert f"Standing order #{order.pk}" in html
    assert "Sign standing order" not in html
    assert logged_in_client(nurse).post(url, post).status_code == 403
    assert logged_in_client(make_user("front_desk", location)).get(url).status_code == 403
    r = client.post(
        f"/infusions/patients/{patient.pk}/standing-orders/revoke/",
        {"standing_order_id": order.pk, "reason": "plan changed"},
    )
    assert r.status_code == 302
    order.refresh_from_db()
    assert order.revoked_by == prescriber


def test_session_page_records_a_prn_medicine_and_refuses_above_max_issue21_point13(
    prescriber, nurse, session
):
    client = logged_in_client(nurse)
    infusing(nurse, session)
    page = client.get(f"/infusions/sessions/{session.pk}/").content.decode()
    assert 'id="prn-none"' in page
    _sign(prescriber, session.patient)
    page = client.get(f"/infusions/sessions/{session.pk}/").content.decode()
    assert "Ondansetron 4 mg IV, at most 8 mg per session" in page
    assert 'for="id_prn_medicine"' in page
    url = f"/infusions/sessions/{session.pk}/prn/"
    too_much = client.post(url, {"medicine": "ondansetron", "dose": "9", "reason": "nausea"})
    assert too_much.status_code == 422
    assert "Above the standing order" in too_much.content.decode()
    not_ordered = client.post(url, {"medicine": "midazolam", "dose": "1", "reason": "distress"})
    assert not_ordered.status_code == 422
    assert "not in a signed standing order" in not_ordered.content.decode()
    assert not MedicationAdministration.objects.exists()
    InfusionSession.objects.filter(pk=session.pk).update(
        checked_in_at=timezone.now() - timedelta(minutes=30)
    )
    local = timezone.now().astimezone(session.location.tzinfo) - timedelta(minutes=5)
    r = client.post(
        url,
        {
            "medicine": "ondansetron",
            "dose": "4",
            "reason": "Nausea (AE-4)",
            "given_at": local.strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert r.status_code == 302, r.content.decode()[-3000:]
    given = MedicationAdministration.objects.get()
    assert given.route == "IV"
    # The typed time is the location's local time (America/New_York), stored in UTC.
    assert given.given_at == local.replace(second=0, microsecond=0)
    page = client.get(f"/infusions/sessions/{session.pk}/").content.decode()
    assert "Ondansetron 4 mg IV — Nausea (AE-4)" in page
