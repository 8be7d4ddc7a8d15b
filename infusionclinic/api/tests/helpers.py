"""Small helpers shared by the API tests: JSON requests, the audit rows they leave, and the shape
of an error answer."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from django.http import HttpResponse
from django.test import Client

from infusionclinic.audit.models import AuditEvent
from infusionclinic.patients.models import Patient

API = "/api/v1"


def post_json(client: Client, path: str, body: Any) -> HttpResponse:
    # json.dumps, not the test client's encoder: numbers go out as JSON numbers, as a real
    # client sends them.
    return client.post(f"{API}{path}", data=json.dumps(body), content_type="application/json")


def patch_json(client: Client, path: str, body: Any) -> HttpResponse:
    return client.patch(f"{API}{path}", data=json.dumps(body), content_type="application/json")


def get(client: Client, path: str, **params: Any) -> HttpResponse:
    return client.get(f"{API}{path}", params)


def new_patient_body(location_code: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "given_name": "Rosa",
        "family_name": "Marquez",
        "birth_date": "1975-03-02",
        "sex_at_birth": "female",
        "email": "rosa.marquez@example.com",
        "phone": "+1 555 0100",
        "location": location_code,
        "weight_kg": 68.4,
        "height_cm": 165,
    }
    body.update(overrides)
    return body


def events(action: str, **filters: Any) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, **filters).order_by("seq"))


def snapshot() -> tuple[int, int, int]:
    """What a refused write must leave unchanged: patients, all audit events, create events."""
    return (
        Patient.objects.count(),
        AuditEvent.objects.count(),
        AuditEvent.objects.filter(action="create").count(),
    )


def assert_error(response: HttpResponse, status: int) -> dict[str, Any]:
    """An error answer is JSON with a human message and a dict of per-field errors."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["message"], str)
    assert body["message"].strip()
    assert isinstance(body.get("errors", {}), dict)
    return body


def assert_field_error(response: HttpResponse, *fields: str) -> dict[str, list[str]]:
    """A 422 naming one of `fields` (the API reports a field either by the name the client sent
    or by the chart field it feeds, e.g. `weight_kg` or `weight`) with a non-empty message."""
    errors = assert_error(response, 422)["errors"]
    named = [f for f in fields if f in errors]
    assert named, f"expected an error on one of {fields}, got {errors}"
    for field in named:
        assert errors[field]
        assert all(isinstance(m, str) and m.strip() for m in errors[field])
    return errors


def patient_state(patient: Patient) -> dict[str, Any]:
    """Every stored demographic value, to prove a refused edit changed nothing."""
    fresh = Patient.objects.get(pk=patient.pk)
    return {field.attname: getattr(fresh, field.attname) for field in Patient._meta.concrete_fields}


def iso(d: date) -> str:
    return d.isoformat()
