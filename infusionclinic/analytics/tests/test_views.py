"""The analytics page and CSV export: admins only, audited, formula-safe CSV."""

from __future__ import annotations

import csv
import io

import pytest

from infusionclinic.audit.models import AuditEvent
from tests.factories import PatientFactory, logged_in_client, make_user

pytestmark = pytest.mark.django_db
RANGE = {"date_from": "2026-03-02", "date_to": "2026-03-15"}


@pytest.mark.parametrize("role", ["patient", "front_desk", "nurse", "prescriber"])
def test_analytics_is_for_admins_only(location, role):
    if role == "patient":
        user = make_user("patient", patient=PatientFactory(home_location=location))
    else:
        user = make_user(role, location)
    client = logged_in_client(user)
    assert client.get("/analytics/", RANGE).status_code == 403
    assert client.get("/analytics/export.csv", RANGE).status_code == 403


def test_anonymous_is_sent_to_log_in(client):
    assert client.get("/analytics/").status_code == 302


def test_admin_sees_figures_and_server_side_charts_and_the_view_is_audited(location):
    admin = make_user("admin", location)
    response = logged_in_client(admin).get("/analytics/", RANGE)
    assert response.status_code == 200
    body = response.content.decode()
    assert "<h1>Clinic analytics</h1>" in body
    assert body.count('<svg xmlns="http://www.w3.org/2000/svg"') == 3
    assert "<script" not in body.split("<main", 1)[-1]
    event = AuditEvent.objects.get(action="view", actor_email=admin.email)
    assert event.detail["report"] == "analytics"
    assert event.detail["locations"] == [location.code]


def test_default_range_without_dates(location):
    assert logged_in_client(make_user("admin", location)).get("/analytics/").status_code == 200


def test_bad_range_answers_400(location):
    client = logged_in_client(make_user("admin", location))
    bad = {"date_from": "2026-03-15", "date_to": "2026-03-02"}
    assert client.get("/analytics/", bad).status_code == 400
    assert client.get("/analytics/export.csv", bad).status_code == 400


def test_another_locations_figures_answer_404(location, other_location):
    client = logged_in_client(make_user("admin", location))
    response = client.get("/analytics/", {**RANGE, "location": other_location.pk})
    assert response.status_code == 404
    assert client.get("/analytics/export.csv", {**RANGE, "location": 999999}).status_code == 404
    assert client.get("/analytics/export.csv", {**RANGE, "location": "x"}).status_code == 400


def test_csv_export_is_formula_safe_and_audited(location):
    location.name = '=HYPERLINK("http://evil.example","x")'
    location.save()
    admin = make_user("admin", location)
    response = logged_in_client(admin).get(
        "/analytics/export.csv", {**RANGE, "location": location.pk}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["metric", "group", "value", "numerator", "denominator", "unit"]
    named = [r for r in rows if r[0] == "location"]
    assert named == [["location", location.code, "'" + location.name, "", "", ""]]
    assert ["revenue_net", "", "0.00", "", "", "USD"] in rows
    assert ["infusions_per_week", "2026-03-02", "0", "", "", "count"] in rows
    assert AuditEvent.objects.filter(action="export", actor_email=admin.email).count() == 1
