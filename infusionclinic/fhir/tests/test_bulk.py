"""Issue 22 point 9: FHIR Bulk Data `$export` (Bulk Data Access IG v2) — kick-off, status with
X-Progress, manifest, NDJSON files, DELETE, `_type` and `_since`, 400 for what is not supported;
only roles that see the whole chart, only their locations' patients; downloads audited."""

import json
from datetime import date
from urllib.parse import urlencode

import pytest
from django.core.files.storage import storages
from django.test import override_settings
from django.utils import timezone
from fhir.resources import get_fhir_model_class

from infusionclinic.audit.models import AuditAction, AuditEvent
from infusionclinic.fhir.bulk import bulk_export_run_task
from infusionclinic.fhir.models import BulkExportFile
from infusionclinic.patients import services
from tests.factories import PatientFactory, add_weight, api_client, logged_in_client, make_user

pytestmark = pytest.mark.django_db

ASYNC = {"Accept": "application/fhir+json", "Prefer": "respond-async"}
QUEUED_ONLY = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


@pytest.fixture
def charts(location, other_location):
    prescriber = make_user("prescriber", location, other_location)
    ours = PatientFactory(home_location=location, given_name="Ada", family_name="Byron")
    theirs = PatientFactory(home_location=other_location, given_name="Eve", family_name="Other")
    for patient in (ours, theirs):
        services.diagnosis_add(actor=prescriber, patient=patient, code="F33.2", is_primary=True)
        add_weight(patient, "70.5", date(2026, 11, 1))
        services.measurement_record(
            actor=prescriber,
            patient=patient,
            kind="height",
            value=165,
            unit="cm",
            measured_on=date(2026, 11, 1),
        )
    return ours, theirs


def _ndjson(client, url):
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+ndjson"
    return [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]


def _patient_ids(resource):
    """The patient a resource is about (none for a Practitioner or a Location)."""
    if resource["resourceType"] == "Patient":
        return {resource["id"]}
    reference = (resource.get("subject") or resource.get("patient") or {}).get("reference", "")
    return {reference.removeprefix("Patient/")} if reference.startswith("Patient/") else set()


@override_settings(TASKS=QUEUED_ONLY)
def test_patient_export_end_to_end_kickoff_poll_manifest_ndjson(location, charts):
    """Kick-off → 202 + Content-Location; poll while queued → 202 + X-Progress; the worker runs
    the task; poll → 200 manifest; every NDJSON line parses and validates with fhir.resources,
    and the other location's patient is in none of them."""
    ours, theirs = charts
    nurse = make_user("nurse", location)
    client = api_client(nurse)

    kickoff = client.get("/fhir/Patient/$export", headers=ASYNC)
    assert kickoff.status_code == 202
    status_url = kickoff["Content-Location"]
    assert status_url.startswith("http://testserver/fhir/bulk/")

    waiting = client.get(status_url)
    assert waiting.status_code == 202
    assert waiting["X-Progress"]

    bulk_export_run_task.call(job_id=status_url.rsplit("/", 1)[1])  # what the worker runs

    done = client.get(status_url)
    assert done.status_code == 200
    manifest = done.json()
    assert manifest["request"] == "http://testserver/fhir/Patient/$export"
    assert manifest["requiresAccessToken"] is True
    assert manifest["error"] == []
    assert manifest["transactionTime"]
    types = {out["type"] for out in manifest["output"]}
    assert {"Patient", "Condition", "Observation"} <= types
    assert len(types) == len(manifest["output"])  # one file per resource type

    seen: set[str] = set()
    for out in manifest["output"]:
        resources = _ndjson(client, out["url"])
        assert len(resources) == out["count"] > 0
        for resource in resources:
            assert resource["resourceType"] == out["type"]
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)  # R5 lib
            seen |= _patient_ids(resource)
    assert seen == {str(ours.pk)}
    assert str(theirs.pk) not in seen

    downloads = AuditEvent.objects.filter(
        actor=nurse, action=AuditAction.EXPORT, detail__fhir_bulk="download"
    )
    assert downloads.count() == len(manifest["output"])
    assert downloads.first().detail["patient_ids"] == [ours.pk]


def test_group_is_a_location_and_type_limits_the_files(location, other_location, charts):
    """A Group is a location's patients; `_type` picks the files; another location's group (not
    one of the nurse's) answers 404."""
    ours, _ = charts
    nurse = make_user("nurse", location)
    client = api_client(nurse)
    kickoff = client.get(
        f"/fhir/Group/{location.pk}/$export?_type=Patient,Condition", headers=ASYNC
    )
    assert kickoff.status_code == 202
    manifest = client.get(kickoff["Content-Location"]).json()  # immediate backend in tests
    assert [out["type"] for out in manifest["output"]] == ["Condition", "Patient"]
    (patient,) = _ndjson(client, manifest["output"][1]["url"])
    assert patient["id"] == str(ours.pk)

    other = client.get(f"/fhir/Group/{other_location.pk}/$export", headers=ASYNC)
    assert other.status_code == 404
    assert other.json()["resourceType"] == "OperationOutcome"


def test_system_level_export_holds_the_users_locations(location, charts):
    ours, _ = charts
    client = api_client(make_user("prescriber", location))
    kickoff = client.get("/fhir/$export?_type=Patient", headers=ASYNC)
    assert kickoff.status_code == 202
    manifest = client.get(kickoff["Content-Location"]).json()
    assert [r["id"] for r in _ndjson(client, manifest["output"][0]["url"])] == [str(ours.pk)]


def test_since_exports_only_what_changed_after(location):
    before = PatientFactory(home_location=location)
    cut = timezone.now()
    after = PatientFactory(home_location=location)
    client = api_client(make_user("nurse", location))
    query = urlencode({"_type": "Patient", "_since": cut.isoformat()})
    kickoff = client.get(f"/fhir/Patient/$export?{query}", headers=ASYNC)
    assert kickoff.status_code == 202
    manifest = client.get(kickoff["Content-Location"]).json()
    ids = [r["id"] for r in _ndjson(client, manifest["output"][0]["url"])]
    assert ids == [str(after.pk)]
    assert str(before.pk) not in ids


@pytest.mark.parametrize(
    ("query", "headers", "says"),
    [
        ("_typeFilter=Observation%3Fcode%3D1", ASYNC, "_typeFilter"),
        ("_type=Basic", ASYNC, "Basic"),
        ("_since=yesterday", ASYNC, "_since"),
        ("_since=2026-01-01T00:00:00", ASYNC, "time zone"),
        ("_outputFormat=text/csv", ASYNC, "_outputFormat"),
        ("colour=blue", ASYNC, "colour"),
        ("", {"Accept": "application/fhir+json"}, "respond-async"),
        ("", {"Accept": "text/html", "Prefer": "respond-async"}, "Accept"),
    ],
)
def test_kickoff_refuses_what_it_does_not_support_with_400(location, query, headers, says):
    client = api_client(make_user("nurse", location))
    response = client.get(f"/fhir/Patient/$export?{query}", headers=headers)
    assert response.status_code == 400
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert says in body["issue"][0]["diagnostics"]


def test_lenient_handling_ignores_unsupported_parameters(location):
    client = api_client(make_user("nurse", location))
    response = client.get(
        "/fhir/Patient/$export?_elements=id",
        headers={**ASYNC, "Prefer": "respond-async, handling=lenient"},
    )
    assert response.status_code == 202


@pytest.mark.parametrize("role", ["front_desk", "admin", "patient"])
def test_roles_that_do_not_see_the_whole_chart_may_not_export(location, role):
    user = make_user(role, location)
    response = api_client(user).get("/fhir/Patient/$export", headers=ASYNC)
    assert response.status_code == 403
    assert response.json()["resourceType"] == "OperationOutcome"
    assert AuditEvent.objects.filter(actor=user, action=AuditAction.DENIED).exists()


def test_another_user_cannot_poll_or_download_an_export(location, charts):
    nurse = make_user("nurse", location)
    kickoff = api_client(nurse).get("/fhir/Patient/$export?_type=Patient", headers=ASYNC)
    status_url = kickoff["Content-Location"]
    colleague = api_client(make_user("prescriber", location))
    assert colleague.get(status_url).status_code == 404
    assert colleague.get(f"{status_url}/Patient.ndjson").status_code == 404
    assert colleague.delete(status_url).status_code == 404
    assert api_client(nurse).get(status_url).status_code == 200


@override_settings(TASKS=QUEUED_ONLY)
def test_delete_cancels_a_queued_export_and_it_never_runs(location, charts):
    client = api_client(make_user("nurse", location))
    status_url = client.get("/fhir/Patient/$export", headers=ASYNC)["Content-Location"]
    assert client.delete(status_url).status_code == 202
    bulk_export_run_task.call(job_id=status_url.rsplit("/", 1)[1])
    assert client.get(status_url).status_code == 404
    assert not BulkExportFile.objects.exists()


def test_delete_after_completion_removes_the_files(location, charts):
    client = api_client(make_user("nurse", location))
    status_url = client.get("/fhir/Patient/$export", headers=ASYNC)["Content-Location"]
    manifest = client.get(status_url).json()
    names = list(BulkExportFile.objects.values_list("storage_name", flat=True))
    assert names
    assert all(storages["default"].exists(name) for name in names)
    assert client.delete(status_url).status_code == 202
    assert not any(storages["default"].exists(name) for name in names)
    assert client.get(manifest["output"][0]["url"]).status_code == 404
    assert client.delete(status_url).status_code == 404


def test_session_delete_needs_the_csrf_token(location, charts):
    client = logged_in_client(make_user("nurse", location))
    client.handler.enforce_csrf_checks = True
    status_url = client.get("/fhir/Patient/$export", headers=ASYNC)["Content-Location"]
    assert client.get(status_url).status_code == 200
    assert client.delete(status_url).status_code == 403


def test_kickoff_is_get_only_and_needs_a_login(location):
    client = api_client(make_user("nurse", location))
    assert client.post("/fhir/Patient/$export", headers=ASYNC).status_code == 405
    from django.test import Client

    assert Client().get("/fhir/Patient/$export", headers=ASYNC).status_code == 401


def test_files_expire_after_the_retention_and_the_manifest_then_answers_404(
    location, charts, settings
):
    """FHIR_BULK_RETENTION_HOURS: `fhir_bulk_expire` removes the files of older exports."""
    from datetime import timedelta

    from django.core.management import call_command

    client = api_client(make_user("nurse", location))
    status_url = client.get("/fhir/Patient/$export?_type=Patient", headers=ASYNC)[
        "Content-Location"
    ]
    (name,) = BulkExportFile.objects.values_list("storage_name", flat=True)
    call_command("fhir_bulk_expire")  # finished just now: kept
    assert client.get(status_url).status_code == 200
    settings.FHIR_BULK_RETENTION_HOURS = 0
    from infusionclinic.fhir.bulk import bulk_exports_expire

    assert bulk_exports_expire(now=timezone.now() + timedelta(seconds=1)) == 1
    assert not storages["default"].exists(name)
    assert client.get(status_url).status_code == 404
