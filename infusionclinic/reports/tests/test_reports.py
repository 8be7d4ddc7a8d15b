"""Progress report for the referring provider (issue 9, item 1): course summary, doses, scores
with their chart, phase decisions and next steps; PDF and an expiring read-only link; sharing
needs the patient's consent; every send and view is audited."""

import io
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone
from pypdf import PdfReader

from infusionclinic.audit.models import AuditEvent
from infusionclinic.courses.services import course_start
from infusionclinic.intake.tests.factories import consent_all
from infusionclinic.outcomes.services import assessment_submit
from infusionclinic.patients.models import ReferringProvider
from infusionclinic.reports.models import ReportShare
from tests.factories import PatientFactory, logged_in_client, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def prescriber(location):
    return make_user("prescriber", location)


@pytest.fixture
def patient(location, prescriber):
    provider = ReferringProvider.objects.create(
        name="Dr. Helen Cho",
        practice="Back Bay Psychiatry",
        email="hcho@example.org",
        npi="1234567893",
    )
    patient = PatientFactory(
        home_location=location,
        given_name="Ines",
        family_name="Varga",
        referring_provider=provider,
    )
    course_start(
        actor=prescriber,
        patient=patient,
        indication="depression",
        started_at=timezone.now() - timedelta(days=20),
    )
    for days_ago, answers in ((21, [2] * 8 + [0]), (3, [1] * 4 + [0] * 5)):
        assessment_submit(
            actor=prescriber,
            patient=patient,
            instrument_code="PHQ-9",
            answers=answers,
            completed_at=timezone.now() - timedelta(days=days_ago),
        )
    return patient


def _consent(patient, location):
    consent_all(patient, make_user("patient", patient=patient), make_user("nurse", location))


def test_report_page_shows_course_scores_chart_and_next_step(patient, prescriber):
    page = logged_in_client(prescriber).get(f"/patients/{patient.pk}/report/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Depression" in html
    assert "PHQ-9" in html
    assert "<svg" in html  # the progress chart, server-side SVG
    assert "Next step proposed:" in html
    assert "1234567893" in html  # the referring provider's NPI
    assert AuditEvent.objects.filter(action="view", patient=patient).exists()


def test_report_pdf_text_holds_the_same_facts_and_is_audited(patient, prescriber):
    response = logged_in_client(prescriber).get(f"/patients/{patient.pk}/report.pdf")
    assert response["Content-Type"] == "application/pdf"
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages)
    assert "Ines Varga" in text
    assert patient.mrn in text
    assert "total 16 (moderately severe)" in text or "total 16" in text
    assert "75.0% lower from baseline" in text
    assert AuditEvent.objects.filter(action="export", patient=patient).count() == 1


def test_sharing_needs_the_patients_consent(patient, prescriber):
    response = logged_in_client(prescriber).post(f"/patients/{patient.pk}/report/share/")
    assert response.status_code == 302
    assert not ReportShare.objects.exists()
    assert mail.outbox == []


def test_share_mails_an_expiring_link_that_opens_read_only_and_is_audited(
    patient, prescriber, location, django_capture_on_commit_callbacks
):
    _consent(patient, location)
    with django_capture_on_commit_callbacks(execute=True):
        logged_in_client(prescriber).post(f"/patients/{patient.pk}/report/share/")
    share = ReportShare.objects.get()
    assert share.recipient_email == "hcho@example.org"
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    assert "Varga" not in body  # the mail carries only the link
    link = next(line for line in body.splitlines() if "/r/" in line)
    path = link[link.index("/r/") :]
    anonymous = Client()
    opened = anonymous.get(path)
    assert opened.status_code == 200
    assert "Ines Varga" in opened.content.decode()
    assert "Send link" not in opened.content.decode()  # read-only
    assert opened["Cache-Control"] == "no-store, private"
    assert anonymous.get(path + "report.pdf")["Content-Type"] == "application/pdf"
    assert (
        AuditEvent.objects.filter(action="export", object_type="reports.ReportShare").count() == 2
    )
    assert AuditEvent.objects.filter(action="view", object_type="reports.ReportShare").count() == 1


def test_expired_revoked_or_unknown_links_answer_404(patient, prescriber, location):
    _consent(patient, location)
    client = logged_in_client(prescriber)
    client.post(f"/patients/{patient.pk}/report/share/")
    share = ReportShare.objects.get()
    assert Client().get("/r/not-a-token/").status_code == 404
    # Only the digest is stored, so the raw token cannot be read back: make a known one.
    ReportShare.objects.filter(pk=share.pk).update(token_digest=ReportShare.digest_of("known"))
    assert Client().get("/r/known/").status_code == 200
    ReportShare.objects.filter(pk=share.pk).update(expires_at=timezone.now() - timedelta(1))
    assert Client().get("/r/known/").status_code == 404
    ReportShare.objects.filter(pk=share.pk).update(expires_at=timezone.now() + timedelta(1))
    client.post(f"/patients/{patient.pk}/report/revoke/", {"share_id": share.pk})
    assert Client().get("/r/known/").status_code == 404
    assert AuditEvent.objects.filter(action="denied").count() >= 3


@pytest.mark.parametrize("role", ["front_desk", "patient"])
def test_roles_without_the_report_capability_are_refused(patient, location, role):
    user = make_user(role, location) if role != "patient" else make_user(role, patient=patient)
    assert logged_in_client(user).get(f"/patients/{patient.pk}/report/").status_code == 403


def test_nurses_read_but_only_prescribers_share(patient, location):
    _consent(patient, location)
    nurse = logged_in_client(make_user("nurse", location))
    assert nurse.get(f"/patients/{patient.pk}/report/").status_code == 200
    assert nurse.post(f"/patients/{patient.pk}/report/share/").status_code == 403
    assert not ReportShare.objects.exists()
