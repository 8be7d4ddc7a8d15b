"""Oversized bodies (issue 11, hostile input): a POST larger than DATA_UPLOAD_MAX_MEMORY_SIZE to any
route — page form or API — answers 413 and saves nothing; a body under the limit is handled."""

from __future__ import annotations

import json
import re

import pytest
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver

from infusionclinic.audit.models import AuditEvent
from infusionclinic.patients.models import Patient
from tests.factories import PatientFactory, api_client, logged_in_client, make_user

pytestmark = pytest.mark.django_db


def _routes(patterns=None, prefix: str = "") -> list[str]:  # type: ignore[no-untyped-def]
    found: list[str] = []
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            found += _routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            found.append(prefix + str(entry.pattern))
    return found


def _concrete(route: str, patient_id: int) -> str:
    route = route.lstrip("^").rstrip("$").replace("\\Z", "")
    path = re.sub(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>[^)]*\)", lambda m: str(patient_id), route)
    return "/" + path


def test_every_route_refuses_a_body_over_the_limit_with_413_and_saves_nothing(location):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert limit == 1024 * 1024  # the documented default
    patient = PatientFactory(home_location=location)
    staff = logged_in_client(make_user("admin", location))
    api = api_client(make_user("front_desk", location))
    form_body = "given_name=" + "A" * limit  # one byte of name per byte of limit: over it
    json_body = json.dumps({"given_name": "A" * limit, "location": location.code})
    before = (Patient.objects.count(), AuditEvent.objects.count())
    paths = sorted({_concrete(r, patient.pk) for r in _routes()})
    assert "/api/v1/patients" in paths
    assert f"/patients/{patient.pk}/edit/" in paths

    for path in paths:
        if path.startswith("/api/"):
            response = api.post(path, data=json_body, content_type="application/json")
            assert response["Content-Type"] == "application/json", path
            assert "larger than" in response.json()["message"]
        else:
            response = staff.post(
                path, data=form_body, content_type="application/x-www-form-urlencoded"
            )
        assert response.status_code == 413, (path, response.status_code)

    assert (Patient.objects.count(), AuditEvent.objects.count()) == before


def test_a_body_under_the_limit_reaches_the_handler(location):
    api = api_client(make_user("front_desk", location))
    body = json.dumps({"given_name": "A" * 1000, "location": location.code})
    assert len(body) < settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    response = api.post("/api/v1/patients", data=body, content_type="application/json")
    assert response.status_code == 422  # handled: the fields are checked, not the size
