import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from infusionclinic.audit.models import AuditAction, AuditEvent
from infusionclinic.audit.services import audit_record
from tests.factories import PatientFactory, logged_in_client, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def setting(location, other_location):
    admin = make_user("admin", location)
    nurse = make_user("nurse", location)
    here = PatientFactory(home_location=location, family_name="Here")
    there = PatientFactory(home_location=other_location, family_name="There")
    audit_record(actor=nurse, action=AuditAction.VIEW, patient=here, obj=here)
    audit_record(actor=nurse, action=AuditAction.VIEW, patient=there, obj=there)
    audit_record(actor=admin, action=AuditAction.LOGIN)
    return admin, nurse, here, there


def test_audit_report_lists_events_of_the_admins_locations_only(setting):
    admin, nurse, here, there = setting
    response = logged_in_client(admin).get("/audit/")
    assert response.status_code == 200
    shown = {e.pk for e in response.context["page"]}
    assert AuditEvent.objects.get(patient=here).pk in shown
    assert AuditEvent.objects.get(patient=there).pk not in shown
    assert AuditEvent.objects.get(action=AuditAction.LOGIN).pk in shown


def test_audit_report_filters_by_user_patient_and_date(setting):
    admin, nurse, here, _ = setting
    client = logged_in_client(admin)
    by_user = client.get("/audit/", {"user": nurse.email}).context["page"]
    assert {e.actor_email for e in by_user} == {nurse.email}
    by_patient = client.get("/audit/", {"patient": here.mrn}).context["page"]
    assert [e.patient_id for e in by_patient] == [here.pk]
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    assert list(client.get("/audit/", {"date_from": tomorrow}).context["page"]) == []
    bad = client.get("/audit/", {"date_from": tomorrow, "date_to": "2000-01-01"})
    assert bad.status_code == 400
    assert "before the start date" in bad.content.decode()


def test_audit_csv_export_has_the_filtered_rows_and_is_itself_audited(setting):
    admin, nurse, here, _ = setting
    response = logged_in_client(admin).get("/audit/export.csv", {"patient": here.mrn})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["patient_mrn"] for r in rows] == [here.mrn]
    assert rows[0]["actor_email"] == nurse.email
    assert rows[0]["action"] == "view"
    export = AuditEvent.objects.filter(action=AuditAction.EXPORT, actor=admin).get()
    assert export.detail["filters"] == {"patient_mrn": here.mrn}


def test_audit_csv_neutralises_spreadsheet_formulas(location):
    admin = make_user("admin", location)
    evil = make_user("nurse", location)
    evil.email = "=HYPERLINK(1)@example.com"
    audit_record(actor=evil, action=AuditAction.LOGIN)
    response = logged_in_client(admin).get("/audit/export.csv")
    body = b"".join(response.streaming_content).decode()
    assert "'=HYPERLINK(1)@example.com" in body
    assert ",=HYPERLINK" not in body


@pytest.mark.parametrize("role", ["front_desk", "nurse", "prescriber", "patient"])
def test_audit_report_and_export_are_refused_to_other_roles(location, role):
    user = make_user(role, location) if role != "patient" else make_user(role)
    client = logged_in_client(user)
    assert client.get("/audit/").status_code == 403
    assert client.get("/audit/export.csv").status_code == 403
    assert not AuditEvent.objects.filter(action=AuditAction.EXPORT).exists()


@pytest.mark.parametrize(
    ("sort", "key"),
    [
        ("user", lambda e: (e.actor_email, e.seq)),
        ("-user", lambda e: (e.actor_email, e.seq)),
        ("action", lambda e: (e.action, e.seq)),
        ("-when", lambda e: (e.occurred_at, e.seq)),
        ("seq", lambda e: e.seq),
    ],
)
def test_audit_report_sorts_by_any_column(setting, sort, key):
    admin, *_ = setting
    page = logged_in_client(admin).get("/audit/", {"sort": sort}).context["page"]
    events = list(page)
    assert events == sorted(events, key=key, reverse=sort.startswith("-"))


def test_audit_report_refuses_a_sort_outside_the_allow_list(setting):
    admin, *_ = setting
    response = logged_in_client(admin).get("/audit/", {"sort": "detail"})
    assert response.status_code == 400
