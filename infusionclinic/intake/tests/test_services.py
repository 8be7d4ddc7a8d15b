"""Referral, intake, screening, review and consent services: the rules of issue 4 and
../shared/domain/protocol.md, with the audit event each write leaves."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from pypdf import PdfReader

from infusionclinic.audit.models import AuditAction, AuditEvent
from infusionclinic.common.context import client_context
from infusionclinic.intake import services
from infusionclinic.intake.models import (
    ConsentDocument,
    ConsentSignature,
    EligibilityScreening,
    Intake,
    IntakeAmendment,
    IntakeStatus,
    PriorTreatment,
    Referral,
    ReferralStatus,
)
from infusionclinic.intake.selectors import (
    consent_documents_current,
    patient_may_be_booked,
    screening_latest,
)
from infusionclinic.patients import services as patient_services
from infusionclinic.patients.models import Diagnosis, Patient
from tests.factories import PatientFactory, make_user

from .factories import complete_answers, consent_all, submitted_intake

pytestmark = pytest.mark.django_db


@pytest.fixture
def front_desk(location):
    return make_user("front_desk", location)


@pytest.fixture
def nurse(location):
    return make_user("nurse", location)


@pytest.fixture
def prescriber(location):
    return make_user("prescriber", location)


@pytest.fixture
def patient(location):
    patient = PatientFactory(home_location=location, given_name="Ada", family_name="Okafor")
    # PTSD: an accepted indication (PROT-1) without the depression-only rule PROT-5.
    Diagnosis.objects.create(patient=patient, code="F43.10", description="PTSD, unspecified")
    make_user("patient", patient=patient)
    return patient


def _referral(actor, location, **overrides):
    values = {
        "location": location,
        "source": "self",
        "given_name": "Rosa",
        "family_name": "Marquez",
        "birth_date": date(1975, 3, 2),
        "sex_at_birth": "female",
        "diagnosis_codes": ["F33.2"],
        "reason": "Recurrent depression, three failed medicines.",
    }
    values.update(overrides)
    return services.referral_create(actor=actor, **values)


# --- Referral ---------------------------------------------------------------------------------


def test_referral_records_source_reference_and_billable_codes_with_an_audit_event(
    front_desk, location
):
    referral = _referral(
        front_desk,
        location,
        source="website",
        source_reference="request 42",
        diagnosis_codes=["f33.2 "],
    )
    assert referral.source == "website"
    assert referral.source_reference == "request 42"
    assert referral.diagnosis_codes == ["F33.2"]
    assert AuditEvent.objects.filter(
        action=AuditAction.CREATE, object_type="intake.Referral", object_id=str(referral.pk)
    ).exists()


def test_referral_refuses_bad_input_on_each_field(front_desk, location):
    with pytest.raises(ValidationError) as exc:
        _referral(
            front_desk,
            location,
            source="provider",
            given_name=" ",
            birth_date=date(2999, 1, 1),
            diagnosis_codes=["F33"],  # a category, not billable (CODE-DX-R1)
            email="not-an-email",
        )
    assert set(exc.value.message_dict) == {
        "referring_provider",
        "given_name",
        "birth_date",
        "diagnosis_codes",
        "email",
    }
    assert not Referral.objects.exists()


def test_referral_at_a_location_the_actor_does_not_work_at_is_refused(front_desk, other_location):
    with pytest.raises(ValidationError) as exc:
        _referral(front_desk, other_location)
    assert "location" in exc.value.message_dict


def test_accepting_a_referral_creates_the_patient_opens_an_intake_and_moves_prior_trials(
    front_desk, location
):
    referral = _referral(front_desk, location)
    services.prior_treatment_add(
        actor=front_desk,
        referral=referral,
        kind="antidepressant",
        name="Sertraline",
        dose_mg_per_day="150",
        weeks=8,
        dose_adequate=True,
        outcome="no_response",
    )
    patient = services.referral_accept(actor=front_desk, referral=referral)
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.ACCEPTED
    assert referral.patient == patient
    assert (patient.given_name, patient.birth_date) == ("Rosa", date(1975, 3, 2))
    assert Intake.objects.get(patient=patient).status == IntakeStatus.DRAFT
    assert PriorTreatment.objects.get().patient == patient
    assert AuditEvent.objects.filter(
        action=AuditAction.UPDATE, patient=patient, object_type="intake.Referral"
    ).exists()


def test_accepting_refuses_a_duplicate_name_and_birth_date_until_the_desk_chooses(
    front_desk, location
):
    existing = PatientFactory(
        home_location=location,
        given_name="Rósa",
        family_name="MARQUEZ",
        birth_date=date(1975, 3, 2),
    )
    referral = _referral(front_desk, location)
    with pytest.raises(ValidationError) as exc:
        services.referral_accept(actor=front_desk, referral=referral)
    assert existing.mrn in exc.value.message_dict["link_patient"][0]
    assert Patient.objects.count() == 1

    linked = services.referral_accept(actor=front_desk, referral=referral, link_patient=existing)
    assert linked == existing
    assert Patient.objects.count() == 1
    with pytest.raises(ValidationError):
        services.referral_accept(actor=front_desk, referral=referral)  # handled once


def test_accepting_with_create_new_registers_a_second_person_of_the_same_name(front_desk, location):
    PatientFactory(
        home_location=location,
        given_name="Rosa",
        family_name="Marquez",
        birth_date=date(1975, 3, 2),
    )
    referral = _referral(front_desk, location)
    services.referral_accept(actor=front_desk, referral=referral, create_new=True)
    assert Patient.objects.count() == 2


def test_prior_treatment_refuses_bad_dose_and_weeks(front_desk, location):
    referral = _referral(front_desk, location)
    with pytest.raises(ValidationError) as exc:
        services.prior_treatment_add(
            actor=front_desk,
            referral=referral,
            kind="pill",
            name="",
            dose_mg_per_day="-5",
            weeks=0,
            outcome="maybe",
        )
    assert set(exc.value.message_dict) == {"kind", "name", "dose_mg_per_day", "weeks", "outcome"}


# --- Intake -----------------------------------------------------------------------------------


def test_patient_saves_a_draft_piece_by_piece_and_each_save_is_audited(patient):
    user = patient.user
    services.intake_save(actor=user, patient=patient, values={"medical_history": "Asthma"})
    services.intake_save(actor=user, patient=patient, values={"weight_kg": "71.25"})
    intake = Intake.objects.get(patient=patient)
    assert intake.medical_history == "Asthma"
    assert intake.weight_kg == Decimal("71.3")
    assert intake.status == IntakeStatus.DRAFT
    updates = AuditEvent.objects.filter(action=AuditAction.UPDATE, object_type="intake.Intake")
    assert [e.detail["fields"] for e in updates.order_by("seq")] == [
        ["medical_history"],
        ["weight_kg"],
    ]


def test_intake_refuses_bad_values_naming_each_field(patient):
    with pytest.raises(ValidationError) as exc:
        services.intake_save(
            actor=patient.user,
            patient=patient,
            values={
                "weight_kg": "heavy",
                "height_cm": "999",
                "baseline_systolic_mmhg": "120.5",
                "pregnant": "maybe",
                "hepatic_disease": "bad",
                "shoe_size": "42",
            },
        )
    assert set(exc.value.message_dict) == {
        "weight_kg",
        "height_cm",
        "baseline_systolic_mmhg",
        "pregnant",
        "hepatic_disease",
        "shoe_size",
    }


def test_submit_requires_every_screening_answer_and_the_escort(patient):
    values = complete_answers(escort_phone="", current_mania=None)
    with pytest.raises(ValidationError) as exc:
        services.intake_save(actor=patient.user, patient=patient, values=values, submit=True)
    assert set(exc.value.message_dict) == {"escort_phone", "current_mania"}
    assert not Intake.objects.filter(patient=patient, status=IntakeStatus.SUBMITTED).exists()


def test_submitted_intake_is_locked_and_staff_amend_it_with_a_reason(patient, nurse):
    services.intake_save(
        actor=patient.user, patient=patient, values=complete_answers(), submit=True
    )
    with pytest.raises(services.IntakeLockedError):
        services.intake_save(actor=patient.user, patient=patient, values={"allergies": "Latex"})
    with pytest.raises(ValidationError) as exc:
        services.intake_amend(
            actor=nurse, patient=patient, values={"allergies": "Latex"}, reason=""
        )
    assert "reason" in exc.value.message_dict
    with pytest.raises(PermissionDenied):
        services.intake_amend(
            actor=patient.user, patient=patient, values={"allergies": "Latex"}, reason="x"
        )

    amendment = services.intake_amend(
        actor=nurse, patient=patient, values={"allergies": "Latex"}, reason="Called patient"
    )
    assert amendment.changes == {"allergies": ["None known", "Latex"]}
    assert IntakeAmendment.objects.get().reason == "Called patient"
    event = AuditEvent.objects.filter(action=AuditAction.UPDATE, object_type="intake.Intake").last()
    assert event.detail["reason"] == "Called patient"
    assert event.detail["fields"] == ["allergies"]


def test_a_patient_may_not_fill_in_someone_elses_intake(patient, location):
    other = PatientFactory(home_location=location)
    with pytest.raises(PermissionDenied):
        services.intake_save(actor=patient.user, patient=other, values={"allergies": "x"})


# --- Screening, re-screening and review -------------------------------------------------------


def test_screening_runs_again_when_the_intake_changes(patient):
    services.intake_save(actor=patient.user, patient=patient, values=complete_answers())
    assert screening_latest(patient=patient).status == "eligible"
    services.intake_save(actor=patient.user, patient=patient, values={"current_mania": True})
    view = screening_latest(patient=patient)
    assert view.status == "ineligible"
    assert view.rule_ids["absolute"] == ["ELIG-A6"]


def test_screening_runs_again_when_a_diagnosis_is_added(patient, prescriber):
    submitted_intake(patient)
    services.screening_run(actor=prescriber, patient=patient)
    assert screening_latest(patient=patient).status == "eligible"
    patient_services.diagnosis_add(actor=prescriber, patient=patient, code="F31.9")
    view = screening_latest(patient=patient)
    assert view.screening.trigger == "diagnosis"
    assert view.rule_ids["unreviewed"] == ["ELIG-B4"]


def test_screening_runs_again_when_weight_is_measured(patient, nurse):
    submitted_intake(patient)
    services.screening_run(actor=nurse, patient=patient)
    patient_services.measurement_record(
        actor=nurse, patient=patient, kind="weight", value="95", unit="kg"
    )
    latest = screening_latest(patient=patient)
    assert latest.screening.trigger == "measurement_weight"
    assert [f.finding.rule_id for f in latest.findings if f.finding.rule_id == "ELIG-C3"] == [
        "ELIG-C3"
    ]


def test_an_unchanged_result_is_not_stored_again(patient, nurse):
    submitted_intake(patient)
    services.screening_run(actor=nurse, patient=patient)
    patient_services.medication_add(actor=nurse, patient=patient, name="Vitamin D")
    assert EligibilityScreening.objects.filter(patient=patient).count() == 1


def test_prescriber_reviews_a_relative_finding_with_a_reason_and_it_is_audited(
    patient, prescriber, nurse
):
    submitted_intake(patient, substance_use_history=True)
    services.screening_run(actor=nurse, patient=patient)
    assert screening_latest(patient=patient).status == "needs_review"
    with pytest.raises(PermissionDenied):
        services.screening_review(
            actor=nurse, patient=patient, rule_id="ELIG-B2", decision="proceed", reason="ok"
        )
    with pytest.raises(ValidationError) as exc:
        services.screening_review(
            actor=prescriber, patient=patient, rule_id="ELIG-B2", decision="proceed", reason=" "
        )
    assert "reason" in exc.value.message_dict

    review = services.screening_review(
        actor=prescriber,
        patient=patient,
        rule_id="ELIG-B2",
        decision="proceed",
        reason="In remission 6 years, sponsor engaged.",
    )
    assert screening_latest(patient=patient).status == "eligible"
    event = AuditEvent.objects.get(object_type="intake.PrescriberReview", object_id=str(review.pk))
    assert event.action == AuditAction.CREATE
    assert event.actor == prescriber
    assert event.detail == {
        "rule_id": "ELIG-B2",
        "decision": "proceed",
        "reason": "In remission 6 years, sponsor engaged.",
    }


def test_a_do_not_treat_review_makes_the_patient_ineligible(patient, prescriber):
    submitted_intake(patient, breastfeeding=True)
    services.screening_run(actor=prescriber, patient=patient)
    services.screening_review(
        actor=prescriber,
        patient=patient,
        rule_id="ELIG-B8",
        decision="do_not_treat",
        reason="Infant 2 months old.",
    )
    view = screening_latest(patient=patient)
    assert view.status == "ineligible"
    assert view.rule_ids["declined"] == ["ELIG-B8"]


def test_absolute_findings_and_an_incomplete_intake_cannot_be_waived(patient, prescriber):
    submitted_intake(patient, pregnant=True, current_mania=None)
    services.screening_run(actor=prescriber, patient=patient)
    for rule_id in ("ELIG-A7", "PROT-3", "ELIG-B1"):
        with pytest.raises(ValidationError) as exc:
            services.screening_review(
                actor=prescriber,
                patient=patient,
                rule_id=rule_id,
                decision="proceed",
                reason="Because.",
            )
        assert "rule_id" in exc.value.message_dict


def test_a_review_does_not_cover_new_evidence_for_the_same_rule(patient, prescriber):
    submitted_intake(patient, psychosis_history=True)
    services.screening_run(actor=prescriber, patient=patient)
    services.screening_review(
        actor=prescriber,
        patient=patient,
        rule_id="ELIG-B3",
        decision="proceed",
        reason="Single episode 2010, stable since.",
    )
    assert screening_latest(patient=patient).status == "eligible"
    patient_services.diagnosis_add(actor=prescriber, patient=patient, code="F20.9")
    view = screening_latest(patient=patient)
    assert view.status == "needs_review"
    assert view.rule_ids["unreviewed"] == ["ELIG-B3"]


def test_resistance_count_follows_prior_treatments_added_to_the_chart(patient, prescriber):
    submitted_intake(patient)
    for name in ("Sertraline", "Venlafaxine"):
        services.prior_treatment_add(
            actor=prescriber,
            patient=patient,
            kind="antidepressant",
            name=name,
            weeks=8,
            dose_adequate=True,
            outcome="no_response",
        )
    assert screening_latest(patient=patient).screening.resistance_count == 2


# --- Consent ----------------------------------------------------------------------------------


def _sign_all(patient, staff):
    signatures = []
    with client_context(client_address="203.0.113.9", channel="web"):
        for document in consent_documents_current():
            signature = services.consent_sign(
                actor=patient.user,
                patient=patient,
                document=document,
                typed_name="  ada  OKAFOR ",
                agreed=True,
            )
            signatures.append(
                services.consent_countersign(actor=staff, patient=patient, signature=signature)
            )
    return signatures


def test_seven_consent_documents_cover_the_topics_of_prot_c1():
    titles = " ".join(d.title + " " + d.body for d in consent_documents_current()).lower()
    for topic in (
        "off-label",
        "not fda-approved",
        "schedule iii",
        "insurance",
        "side effects",
        "not drive",
        "escort",
        "solid food",
        "data",
        "stop treatment",
    ):
        assert topic in titles, topic
    assert len(consent_documents_current()) == 7


def test_signing_records_name_checkbox_time_and_client_address(patient):
    document = consent_documents_current()[0]
    with client_context(client_address="203.0.113.9", channel="web"):
        signature = services.consent_sign(
            actor=patient.user,
            patient=patient,
            document=document,
            typed_name="Ada Okafor",
            agreed=True,
        )
    assert signature.client_address == "203.0.113.9"
    assert signature.agreed is True
    assert signature.signed_at is not None
    assert signature.pdf_sha256
    assert AuditEvent.objects.filter(
        action=AuditAction.CREATE, object_type="intake.ConsentSignature", patient=patient
    ).exists()


def test_signing_refuses_a_wrong_name_an_unticked_box_and_staff(patient, nurse):
    document = consent_documents_current()[0]
    with pytest.raises(ValidationError) as exc:
        services.consent_sign(
            actor=patient.user,
            patient=patient,
            document=document,
            typed_name="Ada O.",
            agreed=False,
        )
    assert set(exc.value.message_dict) == {"typed_name", "agreed"}
    with pytest.raises(PermissionDenied):
        services.consent_sign(
            actor=nurse, patient=patient, document=document, typed_name="Ada Okafor", agreed=True
        )
    assert not ConsentSignature.objects.exists()


def test_the_stored_pdf_holds_exactly_the_signed_version_and_the_signature(patient, nurse):
    document = ConsentDocument.objects.get(code="no-driving", version=1)
    with client_context(client_address="203.0.113.9", channel="web"):
        signature = services.consent_sign(
            actor=patient.user,
            patient=patient,
            document=document,
            typed_name="Ada Okafor",
            agreed=True,
        )
    services.consent_document_publish(
        actor=None, code="no-driving", title="No driving (new)", body="Version two text."
    )
    signature = services.consent_countersign(actor=nurse, patient=patient, signature=signature)
    signature.pdf.open("rb")
    text = " ".join(PdfReader(io.BytesIO(signature.pdf.read())).pages[0].extract_text().split())
    signature.pdf.close()
    assert "No driving until the next day" in text
    assert "version 1" in text
    assert "will not drive, ride a bicycle, operate machinery" in text
    assert "Version two text" not in text
    assert "Typed name: Ada Okafor" in text
    assert "Client address: 203.0.113.9" in text
    assert f"MRN {patient.mrn}" in text
    assert "Countersigned by: Test nurse" in text


def test_a_patient_cannot_sign_an_outdated_version(patient):
    old = ConsentDocument.objects.get(code="risks", version=1)
    services.consent_document_publish(actor=None, code="risks", title="Risks", body="v2")
    with pytest.raises(ValidationError) as exc:
        services.consent_sign(
            actor=patient.user,
            patient=patient,
            document=old,
            typed_name="Ada Okafor",
            agreed=True,
        )
    assert "document" in exc.value.message_dict


def test_only_admins_publish_consent_versions(location):
    with pytest.raises(PermissionDenied):
        services.consent_document_publish(
            actor=make_user("prescriber", location), code="risks", title="R", body="b"
        )
    doc = services.consent_document_publish(
        actor=make_user("admin", location), code="risks", title="R", body="b"
    )
    assert doc.version == 2


# --- The booking gate -------------------------------------------------------------------------


def test_a_screened_consented_patient_may_be_booked(patient, nurse):
    submitted_intake(patient)
    services.screening_run(actor=nurse, patient=patient)
    _sign_all(patient, nurse)
    assert patient_may_be_booked(patient=patient) == (True, [])


def test_booking_is_blocked_without_a_submitted_intake_screening_or_consent(patient):
    ok, reasons = patient_may_be_booked(patient=patient)
    assert not ok
    assert reasons[0] == "The intake has not been submitted (PROT-3)."
    assert reasons[1] == "The patient has not been screened for eligibility."
    assert sum("Consent not signed" in r for r in reasons) == 7


def test_booking_is_blocked_for_an_ineligible_patient(patient, nurse):
    submitted_intake(patient, ketamine_hypersensitivity=True)
    services.screening_run(actor=nurse, patient=patient)
    consent_all(patient, patient.user, nurse)
    assert patient_may_be_booked(patient=patient) == (
        False,
        ["Not eligible: absolute contraindication ELIG-A1."],
    )


def test_booking_is_blocked_until_a_relative_finding_is_reviewed(patient, nurse, prescriber):
    submitted_intake(patient, urinary_symptoms=True)
    services.screening_run(actor=nurse, patient=patient)
    consent_all(patient, patient.user, nurse)
    assert patient_may_be_booked(patient=patient) == (
        False,
        ["Findings wait for a prescriber's review: ELIG-B7."],
    )
    services.screening_review(
        actor=prescriber,
        patient=patient,
        rule_id="ELIG-B7",
        decision="proceed",
        reason="Urology reviewed; no cystitis.",
    )
    assert patient_may_be_booked(patient=patient) == (True, [])


def test_a_new_consent_version_needs_a_new_signature_before_booking(patient, nurse):
    submitted_intake(patient)
    services.screening_run(actor=nurse, patient=patient)
    _sign_all(patient, nurse)
    assert patient_may_be_booked(patient=patient)[0]

    new = services.consent_document_publish(
        actor=None, code="fasting", title="Fasting before an infusion", body="New rules."
    )
    ok, reasons = patient_may_be_booked(patient=patient)
    assert not ok
    assert reasons == [
        "A new version needs the patient's signature: Fasting before an infusion (version 2) "
        "(PROT-C2)."
    ]
    signature = services.consent_sign(
        actor=patient.user, patient=patient, document=new, typed_name="Ada Okafor", agreed=True
    )
    ok, reasons = patient_may_be_booked(patient=patient)
    assert reasons == [
        "Consent not yet countersigned by staff: Fasting before an infusion (version 2) (PROT-C1)."
    ]
    services.consent_countersign(actor=nurse, patient=patient, signature=signature)
    assert patient_may_be_booked(patient=patient) == (True, [])


def test_booking_is_blocked_while_the_intake_is_a_draft(patient, nurse):
    services.intake_save(actor=patient.user, patient=patient, values=complete_answers())
    _sign_all(patient, nurse)
    assert patient_may_be_booked(patient=patient) == (
        False,
        ["The intake has not been submitted (PROT-3)."],
    )


def test_consent_publish_command_adds_a_version(tmp_path):
    from django.core.management import call_command

    body = tmp_path / "risks.txt"
    body.write_text("New risks text.", encoding="utf-8")
    call_command(
        "consent_publish", "risks", "--title", "Risks and side effects", "--body-file", body
    )
    latest = ConsentDocument.objects.filter(code="risks").order_by("-version").first()
    assert (latest.version, latest.body) == (2, "New risks text.")
    assert AuditEvent.objects.filter(
        action=AuditAction.CREATE, object_type="intake.ConsentDocument", channel="cli"
    ).exists()


def test_a_birth_date_correction_re_runs_screening(patient, nurse):
    submitted_intake(patient)
    services.screening_run(actor=nurse, patient=patient)
    patient_services.patient_update(
        actor=nurse,
        patient=patient,
        expected_version=None,
        changes={"birth_date": date(2015, 1, 1)},
    )
    view = screening_latest(patient=patient)
    assert view.screening.trigger == "demographics"
    assert view.rule_ids["absolute"] == ["ELIG-A10"]


def test_bookable_patient_factory_gives_a_patient_the_gate_lets_through(patient, nurse):
    from .factories import bookable_patient

    assert patient_may_be_booked(patient=bookable_patient(patient, staff=nurse)) == (True, [])


def test_booking_is_blocked_when_the_rule_table_changed_since_the_last_screening(
    patient, nurse, monkeypatch
):
    from infusionclinic.intake import screening as screening_module

    submitted_intake(patient)
    services.screening_run(actor=nurse, patient=patient)
    consent_all(patient, patient.user, nurse)
    table = screening_module.rule_table()
    monkeypatch.setattr(
        screening_module,
        "rule_table",
        lambda: screening_module.RuleTable(version="next", rules=table.rules),
    )
    assert patient_may_be_booked(patient=patient) == (
        False,
        ["The screening rules changed since the last screening: run it again."],
    )
