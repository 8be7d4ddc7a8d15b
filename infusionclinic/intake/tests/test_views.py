"""The pages: the patient's intake (autosave, submit, lock), the prescriber's screening page and
review, consent signing, countersigning and the PDF download, and referrals. Routes keyed by
another id than patient_id (signature, referral) get their own 404 tests here."""

from __future__ import annotations

import io
from datetime import date

import pytest
from pypdf import PdfReader

from infusionclinic.audit.models import AuditAction, AuditEvent
from infusionclinic.intake import services
from infusionclinic.intake.models import (
    ConsentSignature,
    Intake,
    IntakeStatus,
    PrescriberReview,
    Referral,
)
from infusionclinic.intake.selectors import consent_documents_current
from infusionclinic.patients.models import Diagnosis, Patient
from tests.factories import PatientFactory, logged_in_client, make_user
from tests.security.test_access_matrix import API_OPERATIONS, PAGE_ROUTES

from .factories import complete_answers, submitted_intake

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient(location):
    patient = PatientFactory(home_location=location, given_name="Ada", family_name="Okafor")
    Diagnosis.objects.create(patient=patient, code="F43.10", description="PTSD, unspecified")
    make_user("patient", patient=patient)
    return patient


def _form_data(values):
    data = {}
    for name, value in values.items():
        if isinstance(value, bool):
            data[name] = "yes" if value else "no"
        else:
            data[name] = "" if value is None else str(value)
    return data


def test_the_access_matrix_discovers_every_patient_route_of_this_app():
    names = {r.name for r in PAGE_ROUTES}
    assert {
        "intake:intake",
        "intake:amend",
        "intake:screening",
        "intake:review",
        "intake:treatment_add",
        "intake:consent",
        "intake:countersign",
    } <= names
    assert {
        ("GET", "/api/v1/patients/{patient_id}/intake"),
        ("PUT", "/api/v1/patients/{patient_id}/intake"),
        ("POST", "/api/v1/patients/{patient_id}/screening"),
    } <= set(API_OPERATIONS)


# --- Intake -----------------------------------------------------------------------------------


def test_patient_autosave_saves_only_the_field_sent_and_answers_a_status_line(patient):
    client = logged_in_client(patient.user)
    assert client.get("/my/intake/")["Location"] == f"/patients/{patient.pk}/intake/"
    page = client.get(f"/patients/{patient.pk}/intake/")
    assert page.status_code == 200
    assert b'hx-post="/patients/' in page.content

    response = client.post(
        f"/patients/{patient.pk}/intake/", {"allergies": "Latex"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert b"Draft saved at" in response.content
    client.post(
        f"/patients/{patient.pk}/intake/", {"weight_kg": "70"}, headers={"HX-Request": "true"}
    )
    intake = Intake.objects.get(patient=patient)
    assert (intake.allergies, str(intake.weight_kg)) == ("Latex", "70.0")

    bad = client.post(
        f"/patients/{patient.pk}/intake/", {"weight_kg": "7000"}, headers={"HX-Request": "true"}
    )
    assert b"Not saved" in bad.content
    assert b"Weight (kg)" in bad.content


def test_patient_submits_the_intake_and_then_sees_it_locked(patient):
    client = logged_in_client(patient.user)
    data = _form_data(complete_answers())
    incomplete = client.post(
        f"/patients/{patient.pk}/intake/", {**data, "escort_name": "", "action": "submit"}
    )
    assert incomplete.status_code == 400
    assert b"Please answer this before submitting." in incomplete.content

    response = client.post(f"/patients/{patient.pk}/intake/", {**data, "action": "submit"})
    assert response.status_code == 302
    assert Intake.objects.get(patient=patient).status == IntakeStatus.SUBMITTED
    page = client.get(f"/patients/{patient.pk}/intake/")
    assert b"The intake is locked" in page.content
    assert b"<textarea" not in page.content
    again = client.post(f"/patients/{patient.pk}/intake/", {**data, "allergies": "Dust"})
    assert again.status_code == 400
    assert Intake.objects.get(patient=patient).allergies == "None known"


def test_nurse_amends_a_submitted_intake_with_a_reason(patient, location):
    submitted_intake(patient)
    client = logged_in_client(make_user("nurse", location))
    data = _form_data(complete_answers(allergies="Latex"))
    assert client.post(f"/patients/{patient.pk}/intake/amend/", data).status_code == 400
    response = client.post(
        f"/patients/{patient.pk}/intake/amend/", {**data, "reason": "Patient phoned in"}
    )
    assert response.status_code == 302
    page = client.get(f"/patients/{patient.pk}/intake/")
    assert b"Patient phoned in" in page.content


def test_front_desk_may_not_open_intake_screening_or_consent(patient, location):
    client = logged_in_client(make_user("front_desk", location))
    for page in ("intake", "screening", "consent"):
        assert client.get(f"/patients/{patient.pk}/{page}/").status_code == 403


# --- Screening --------------------------------------------------------------------------------


def test_prescriber_sees_the_result_with_rule_ids_and_reviews_a_relative_finding(patient, location):
    submitted_intake(patient, substance_use_history=True)
    prescriber = make_user("prescriber", location)
    services.screening_run(actor=prescriber, patient=patient)
    client = logged_in_client(prescriber)
    page = client.get(f"/patients/{patient.pk}/screening/")
    assert page.status_code == 200
    assert b"Needs a prescriber&#x27;s review" in page.content
    assert b"ELIG-B2" in page.content
    assert b"Treatment-resistance count (PROT-2)" in page.content
    assert b"Review ELIG-B2" in page.content

    refused = client.post(
        f"/patients/{patient.pk}/screening/review/", {"rule_id": "ELIG-B2", "decision": "proceed"}
    )
    assert refused.status_code == 400
    assert not PrescriberReview.objects.exists()

    response = client.post(
        f"/patients/{patient.pk}/screening/review/",
        {"rule_id": "ELIG-B2", "decision": "proceed", "reason": "Remission 8 years."},
    )
    assert response.status_code == 302
    page = client.get(f"/patients/{patient.pk}/screening/")
    assert b"Remission 8 years." in page.content
    assert b'<h2 id="result">Result: <span class="status status-eligible">Eligible' in page.content


def test_nurse_sees_screening_but_has_no_review_form(patient, location):
    submitted_intake(patient, urinary_symptoms=True)
    nurse = make_user("nurse", location)
    services.screening_run(actor=nurse, patient=patient)
    client = logged_in_client(nurse)
    page = client.get(f"/patients/{patient.pk}/screening/")
    assert b"ELIG-B7" in page.content
    assert b"Review ELIG-B7" not in page.content
    response = client.post(
        f"/patients/{patient.pk}/screening/review/",
        {"rule_id": "ELIG-B7", "decision": "proceed", "reason": "x"},
    )
    assert response.status_code == 403


def test_adding_a_prior_treatment_on_the_page_updates_the_resistance_count(patient, location):
    submitted_intake(patient)
    client = logged_in_client(make_user("prescriber", location))
    for name in ("Sertraline", "Bupropion"):
        response = client.post(
            f"/patients/{patient.pk}/treatments/",
            {
                "kind": "antidepressant",
                "name": name,
                "dose_mg_per_day": "150",
                "weeks": "8",
                "dose_adequate": "yes",
                "outcome": "no_response",
            },
        )
        assert response.status_code == 302
    page = client.get(f"/patients/{patient.pk}/screening/")
    assert b"<strong>2</strong> adequate antidepressant trials" in page.content


# --- Consent ----------------------------------------------------------------------------------


def test_patient_signs_in_the_portal_staff_countersign_and_the_pdf_downloads(patient, location):
    client = logged_in_client(patient.user)
    document = consent_documents_current()[0]
    page = client.get(f"/patients/{patient.pk}/consent/")
    assert page.status_code == 200
    assert document.title.encode() in page.content

    refused = client.post(
        f"/patients/{patient.pk}/consent/", {"document": document.pk, "typed_name": "Ada Okafor"}
    )
    assert refused.status_code == 400
    assert b"Tick the box" in refused.content
    response = client.post(
        f"/patients/{patient.pk}/consent/",
        {"document": document.pk, "typed_name": "Ada Okafor", "agreed": "on"},
        REMOTE_ADDR="198.51.100.7",
    )
    assert response.status_code == 302
    signature = ConsentSignature.objects.get(patient=patient, document=document)
    assert signature.client_address == "198.51.100.7"

    nurse = logged_in_client(make_user("nurse", location))
    assert (
        nurse.post(
            f"/patients/{patient.pk}/consent/countersign/", {"signature": signature.pk}
        ).status_code
        == 302
    )
    signature.refresh_from_db()
    assert signature.countersigned_at is not None

    pdf = client.get(f"/consent/signatures/{signature.pk}/pdf/")
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    text = " ".join(
        PdfReader(io.BytesIO(b"".join(pdf.streaming_content))).pages[0].extract_text().split()
    )
    assert document.title in text
    assert "Typed name: Ada Okafor" in text
    assert "198.51.100.7" in text
    assert AuditEvent.objects.filter(
        action=AuditAction.EXPORT, patient=patient, object_id=str(signature.pk)
    ).exists()


def test_staff_cannot_sign_for_the_patient(patient, location):
    client = logged_in_client(make_user("prescriber", location))
    document = consent_documents_current()[0]
    response = client.post(
        f"/patients/{patient.pk}/consent/",
        {"document": document.pk, "typed_name": "Ada Okafor", "agreed": "on"},
    )
    assert response.status_code == 403
    assert not ConsentSignature.objects.exists()


def _signature(patient):
    document = consent_documents_current()[0]
    return services.consent_sign(
        actor=patient.user,
        patient=patient,
        document=document,
        typed_name="Ada Okafor",
        agreed=True,
    )


@pytest.mark.parametrize("who", ["other_location_nurse", "other_patient"])
def test_a_signature_pdf_is_404_with_a_denied_event_for_users_who_may_not_see_the_patient(
    patient, location, other_location, who
):
    signature = _signature(patient)
    user = (
        make_user("nurse", other_location)
        if who == "other_location_nurse"
        else make_user("patient", patient=PatientFactory(home_location=location))
    )
    response = logged_in_client(user).get(f"/consent/signatures/{signature.pk}/pdf/")
    assert response.status_code == 404
    assert AuditEvent.objects.filter(action=AuditAction.DENIED, actor=user).count() == 1
    assert not AuditEvent.objects.filter(action=AuditAction.EXPORT).exists()


def test_front_desk_gets_403_for_a_consent_pdf_of_a_patient_they_see(patient, location):
    signature = _signature(patient)
    client = logged_in_client(make_user("front_desk", location))
    assert client.get(f"/consent/signatures/{signature.pk}/pdf/").status_code == 403


# --- Referrals --------------------------------------------------------------------------------


def test_front_desk_records_a_referral_adds_a_trial_and_accepts_it(location):
    client = logged_in_client(make_user("front_desk", location))
    response = client.post(
        "/referrals/new/",
        {
            "source": "provider",
            "location": location.code,
            "given_name": "Rosa",
            "family_name": "Marquez",
            "birth_date": "1975-03-02",
            "sex_at_birth": "female",
            "diagnosis_codes": "F33.2",
            "referring_provider_name": "Dr. Lee",
        },
    )
    assert response.status_code == 302, response.content
    referral = Referral.objects.get()
    assert referral.referring_provider.name == "Dr. Lee"
    treatment = client.post(
        f"/referrals/{referral.pk}/treatments/",
        {"kind": "antidepressant", "name": "Sertraline", "weeks": "8", "outcome": "no_response"},
    )
    assert treatment.status_code == 302
    accepted = client.post(f"/referrals/{referral.pk}/accept/")
    assert accepted.status_code == 302
    patient = Patient.objects.get(family_name="Marquez")
    assert accepted["Location"] == f"/patients/{patient.pk}/"
    assert Intake.objects.filter(patient=patient).exists()


def test_a_referral_with_a_source_of_provider_needs_the_provider(location):
    client = logged_in_client(make_user("front_desk", location))
    response = client.post(
        "/referrals/new/",
        {
            "source": "provider",
            "location": location.code,
            "given_name": "R",
            "family_name": "M",
            "birth_date": "1975-03-02",
            "sex_at_birth": "female",
        },
    )
    assert response.status_code == 400
    assert b"Name the referring provider." in response.content


@pytest.mark.parametrize("path", ["", "treatments/", "accept/"])
def test_referral_routes_are_404_for_staff_of_another_location(location, other_location, path):
    referral = services.referral_create(
        actor=make_user("front_desk", location),
        location=location,
        source="self",
        given_name="Rosa",
        family_name="Marquez",
        birth_date=date(1975, 3, 2),
        sex_at_birth="female",
    )
    outsider = make_user("front_desk", other_location)
    client = logged_in_client(outsider)
    url = f"/referrals/{referral.pk}/{path}"
    response = client.post(url, {"kind": "other", "name": "x"}) if path else client.get(url)
    assert response.status_code == 404
    assert AuditEvent.objects.filter(action=AuditAction.DENIED, actor=outsider).count() == 1
    referral.refresh_from_db()
    assert referral.status == "new"
    assert not referral.treatments.exists()


def test_patients_and_nurses_without_the_capability_cannot_list_referrals(patient, location):
    assert logged_in_client(patient.user).get("/referrals/").status_code == 403
    assert logged_in_client(make_user("nurse", location)).get("/referrals/").status_code == 200


def test_nurse_completes_the_intake_on_the_patients_behalf(patient, location):
    nurse = make_user("nurse", location)
    client = logged_in_client(nurse)
    data = _form_data(complete_answers())
    response = client.post(f"/patients/{patient.pk}/intake/", {**data, "action": "submit"})
    assert response.status_code == 302
    intake = Intake.objects.get(patient=patient)
    assert (intake.status, intake.submitted_by) == (IntakeStatus.SUBMITTED, nurse)


@pytest.mark.parametrize(
    ("role", "links"),
    [
        ("patient", [b"Intake form", b"Consent"]),
        ("prescriber", [b"Intake form", b"Eligibility screening", b"Consent"]),
        ("front_desk", []),
    ],
)
def test_the_chart_links_to_the_intake_pages_the_role_may_open(patient, location, role, links):
    user = patient.user if role == "patient" else make_user(role, location)
    chart = logged_in_client(user).get(f"/patients/{patient.pk}/").content
    for label in (b"Intake form", b"Eligibility screening", b"Consent</a>"):
        expected = label.removesuffix(b"</a>") in links
        assert (label in chart) == expected, label
