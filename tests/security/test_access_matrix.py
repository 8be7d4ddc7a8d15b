"""The access matrix (issue 2, sections 3 and 5; STYLE.md habit 3).

The first half is GENERATED: it walks Django's URL resolver and the django-ninja routers and finds
every page and API operation that takes a `patient_id`. For each, a user who may not see that
patient (staff of another location in every staff role, or a patient asking for someone else's
chart) gets 404, never 403, nothing changes, and a `denied` audit event is written. A route added
later that forgets `patient_get_for_user` fails here without anyone writing a test for it.

The second half pins what each role may and may not do on the pages.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from django.apps import apps
from django.db.models import Max
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from infusionclinic.accounts.models import User
from infusionclinic.api.api import api
from infusionclinic.audit.models import AuditAction, AuditEvent
from infusionclinic.patients.models import Allergy, Diagnosis, Medication, Patient
from infusionclinic.patients.services import DEMOGRAPHIC_FIELDS
from tests.factories import (
    PatientFactory,
    add_weight,
    api_client,
    logged_in_client,
    make_user,
)

STAFF = ["front_desk", "nurse", "prescriber", "admin"]
ROLES = ["patient", *STAFF]
KWARG = "patient_id"

# Routes that must be discovered; if a refactor breaks discovery, these go missing.
KNOWN_PAGE_ROUTES = {
    "patients:chart",
    "patients:edit",
    "patients:measurement_add",
    "patients:allergy_add",
    "patients:medication_add",
    "patients:diagnosis_add",
    "courses:patient_courses",
    "dosing:patient_orders",
}
KNOWN_API_OPERATIONS = {
    ("GET", "/api/v1/patients/{patient_id}"),
    ("PATCH", "/api/v1/patients/{patient_id}"),
}

# --- Discovery --------------------------------------------------------------------------------

_ROUTE_PARAM = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")
_REGEX_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>")


@dataclass(frozen=True)
class PageRoute:
    name: str  # namespace:name, or the route itself if it has no name
    route: str  # e.g. "patients/<int:patient_id>/allergies/"

    def url(self, patient_id: int) -> str:
        # Other parameters a future route may take (an allergy id...) get a placeholder: the
        # patient check must refuse before any of them is looked at.
        return "/" + _ROUTE_PARAM.sub(
            lambda m: str(patient_id) if m["name"] == KWARG else "1", self.route
        )

    def __str__(self) -> str:
        return self.name


def _walk(patterns: list[Any], prefix: str = "", namespace: str = "", regex: bool = False):
    """Yield (full route, namespace, pattern, is_regex) for every URL pattern, through includes;
    is_regex when any part of the route is a re_path() regex rather than a path() route."""
    for entry in patterns:
        route = str(entry.pattern)
        is_regex = regex or not hasattr(entry.pattern, "converters")
        if isinstance(entry, URLResolver):
            inner = ":".join(part for part in (namespace, entry.namespace) if part)
            yield from _walk(entry.url_patterns, prefix + route, inner, is_regex)
        elif isinstance(entry, URLPattern):
            yield prefix + route, namespace, entry, is_regex


def _takes_patient_id(route: str) -> bool:
    names = [m["name"] for m in _ROUTE_PARAM.finditer(route)]
    names += [m["name"] for m in _REGEX_GROUP.finditer(route)]
    return KWARG in names


def _resolver_routes() -> tuple[list[PageRoute], list[str], list[str]]:
    """(page routes with patient_id, API routes with patient_id, regex routes with patient_id)."""
    pages: list[PageRoute] = []
    api_routes: list[str] = []
    regex_routes: list[str] = []
    for route, namespace, pattern, is_regex in _walk(get_resolver().url_patterns):
        if not _takes_patient_id(route):
            continue
        if is_regex:
            regex_routes.append(route)
        elif namespace.split(":")[0] == api.urls_namespace:
            api_routes.append("/" + _ROUTE_PARAM.sub(lambda m: "{" + m["name"] + "}", route))
        else:
            name = f"{namespace}:{pattern.name}" if namespace else (pattern.name or route)
            pages.append(PageRoute(name=name, route=route))
    return pages, api_routes, regex_routes


def _api_operations() -> list[tuple[str, str]]:
    """(method, path) of every django-ninja operation whose path contains {patient_id}."""
    root = reverse(f"{api.urls_namespace}:api-root")  # "/api/v1/"
    operations = []
    for prefix, router in api._routers:
        for path, path_view in router.path_operations.items():
            full = root.rstrip("/") + "/" + "/".join(p.strip("/") for p in (prefix, path) if p)
            if "{" + KWARG + "}" not in full:
                continue
            operations += [(m.upper(), full) for op in path_view.operations for m in op.methods]
    return sorted(set(operations))


PAGE_ROUTES = sorted(_resolver_routes()[0], key=str)
API_OPERATIONS = _api_operations()


def test_discovery_finds_every_known_patient_route():
    pages, api_routes, regex_routes = _resolver_routes()
    assert {r.name for r in pages} >= KNOWN_PAGE_ROUTES
    assert set(API_OPERATIONS) >= KNOWN_API_OPERATIONS
    # A re_path() route taking patient_id would need this test taught how to build its URL.
    assert regex_routes == []
    # Every API route Django serves is one of the operations the ninja walk found, so an
    # operation cannot hide from this matrix.
    assert set(api_routes) == {path for _, path in API_OPERATIONS}


@pytest.mark.django_db
def test_every_discovered_api_operation_is_published_in_the_openapi_schema():
    schema = Client().get("/api/v1/openapi.json").json()
    published = {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if "{" + KWARG + "}" in path
    }
    assert published == set(API_OPERATIONS)


# --- The generated matrix ---------------------------------------------------------------------


@dataclass
class World:
    victim: Patient
    insider: User  # a prescriber at the victim's location: the positive control
    outsiders: dict[str, User]  # role -> a user who must not see the victim


@pytest.fixture
def world(location, other_location) -> World:
    victim = PatientFactory(home_location=location, phone="555-0100")
    add_weight(victim, "70.0", date(2024, 1, 5))
    Allergy.objects.create(patient=victim, substance="Latex", severity="mild")
    outsiders = {role: make_user(role, other_location) for role in STAFF}
    # A patient at the same location as the victim, asking for the victim's chart.
    outsiders["patient"] = make_user("patient", patient=PatientFactory(home_location=location))
    return World(victim=victim, insider=make_user("prescriber", location), outsiders=outsiders)


def _clinical_snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row of every clinical model (all project apps but accounts and the audit log)."""
    snapshot = {}
    for model in apps.get_models():
        label = model._meta.app_label
        module = model.__module__
        if module.startswith("infusionclinic.") and label not in ("accounts", "audit"):
            snapshot[model._meta.label] = list(model.objects.order_by("pk").values())
    return snapshot


def _page_post_data(patient: Patient) -> dict[str, str]:
    """One body that every chart form accepts as a valid, real change (forms ignore the
    fields they do not know): so if a refused request were let through, something would change."""
    demographics = {
        name: "" if getattr(patient, name) is None else str(getattr(patient, name))
        for name in DEMOGRAPHIC_FIELDS
    }
    return {
        **demographics,
        "given_name": "Changed",
        "version": str(patient.version),
        "kind": "weight",
        "value": "72",
        "unit": "kg",
        "substance": "Penicillin",
        "reaction": "Hives",
        "severity": "severe",
        "name": "Sertraline",
        "dose": "50 mg daily",
        "code": "F20.9",
    }


# Operations whose valid body is not a demographics change (issue 4 onwards).
API_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PUT", "/api/v1/patients/{patient_id}/intake"): {"allergies": "Penicillin"},
    # outcomes: a valid PHQ-9 response
    ("POST", "/api/v1/patients/{patient_id}/assessments"): {
        "instrument": "PHQ-9",
        "answers": [1] * 8 + [0],
    },
}


def _api_body(patient: Patient, method: str = "", path: str = "") -> str:
    """A valid change, so that a refused request let through would change something."""
    if (method, path) in API_BODIES:
        return json.dumps(API_BODIES[(method, path)])
    return json.dumps({"version": patient.version, "given_name": "Changed", "phone": "555-0199"})


def _last_seq() -> int:
    return AuditEvent.objects.aggregate(m=Max("seq"))["m"] or 0


def _assert_refused_as_not_found(response, user: User, victim: Patient, since: int) -> None:
    assert response.status_code == 404
    new_events = AuditEvent.objects.filter(seq__gt=since)
    denied = new_events.filter(action=AuditAction.DENIED, actor=user)
    assert denied.count() == 1
    assert denied.get().detail["requested_id"] == str(victim.pk)
    # Nothing about the victim was read or written on the way to the refusal.
    assert not new_events.filter(patient=victim).exists()


def _page_request(client: Client, method: str, url: str, victim: Patient):
    if method == "POST":
        return client.post(url, _page_post_data(victim))
    return client.get(url)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", PAGE_ROUTES, ids=str)
def test_page_route_answers_404_to_users_who_may_not_see_the_patient(world, route, role):
    user = world.outsiders[role]
    client = logged_in_client(user)
    insider = logged_in_client(world.insider)
    url = route.url(world.victim.pk)
    before = _clinical_snapshot()

    reached_view = []
    for method in ("GET", "POST"):
        since = _last_seq()
        response = _page_request(client, method, url, world.victim)
        if response.status_code == 405:
            # The view does not take this method at all, whoever asks and for whichever id.
            assert not AuditEvent.objects.filter(seq__gt=since, patient=world.victim).exists()
            assert _page_request(insider, method, url, world.victim).status_code == 405
            continue
        reached_view.append(method)
        _assert_refused_as_not_found(response, user, world.victim, since)
        assert _clinical_snapshot() == before

    assert reached_view, f"{route} answers 405 to both GET and POST"
    # Positive control: the same requests from staff at the patient's location are not 404,
    # so the 404 above is the access rule, not a broken URL or body.
    for method in reached_view:
        assert _page_request(insider, method, url, world.victim).status_code != 404


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("method", "path"), [pytest.param(m, p, id=f"{m} {p}") for m, p in API_OPERATIONS]
)
def test_api_operation_answers_404_to_users_who_may_not_see_the_patient(world, method, path, role):
    user = world.outsiders[role]
    url = path.replace("{" + KWARG + "}", str(world.victim.pk))
    before = _clinical_snapshot()
    since = _last_seq()

    response = api_client(user).generic(
        method,
        url,
        data="" if method == "GET" else _api_body(world.victim, method, path),
        content_type="application/json",
    )
    _assert_refused_as_not_found(response, user, world.victim, since)
    assert response.json()["message"] == "Not found."
    assert _clinical_snapshot() == before

    insider = api_client(world.insider).generic(
        method,
        url,
        data="" if method == "GET" else _api_body(world.victim, method, path),
        content_type="application/json",
    )
    assert insider.status_code in (200, 201)


def _without_csrf_token(content: bytes) -> bytes:
    # The log-out form's CSRF token is masked afresh on every response.
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b"", content)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_an_id_that_does_not_exist_looks_the_same_as_one_that_is_refused(world, role):
    """404 for someone else's patient and for no patient at all: ids cannot be probed."""
    user = world.outsiders[role]
    missing = Patient.objects.aggregate(m=Max("pk"))["m"] + 1000
    client = logged_in_client(user)
    hidden = client.get(f"/patients/{world.victim.pk}/")
    absent = client.get(f"/patients/{missing}/")
    assert hidden.status_code == absent.status_code == 404
    assert _without_csrf_token(hidden.content) == _without_csrf_token(absent.content)
    token_client = api_client(user)
    assert (
        token_client.get(f"/api/v1/patients/{world.victim.pk}").json()
        == token_client.get(f"/api/v1/patients/{missing}").json()
    )


# --- What each role may do on the pages -------------------------------------------------------

HOME_HEADINGS = {
    "front_desk": b"<h1>Front desk</h1>",
    "nurse": b"<h1>Nursing</h1>",
    "prescriber": b"<h1>Prescriber</h1>",
    "admin": b"<h1>Clinic admin</h1>",
}
CLINICAL_SECTIONS = (b'id="allergies"', b'id="medications"', b'id="diagnoses"')


def _staff_client(role: str, location) -> tuple[User, Client]:
    user = make_user(role, location)
    return user, logged_in_client(user)


@pytest.mark.django_db
@pytest.mark.parametrize("role", STAFF)
def test_each_staff_role_lands_on_its_own_home_page(location, role):
    _, client = _staff_client(role, location)
    response = client.get("/home/")
    assert response.status_code == 200
    assert HOME_HEADINGS[role] in response.content
    for other_role, heading in HOME_HEADINGS.items():
        if other_role != role:
            assert heading not in response.content


@pytest.mark.django_db
def test_a_patient_lands_on_their_own_chart(location):
    patient = PatientFactory(home_location=location)
    client = logged_in_client(make_user("patient", patient=patient))
    response = client.get("/home/")
    assert response.status_code == 302
    assert response["Location"] == "/my/"  # the portal home (issue 18 section 1)
    chart = client.get("/my/chart/")
    assert chart.status_code == 200
    assert patient.mrn.encode() in chart.content


@pytest.mark.django_db
def test_front_desk_registers_patients_but_sees_and_writes_no_clinical_detail(location):
    _, client = _staff_client("front_desk", location)
    patient = PatientFactory(home_location=location)
    Allergy.objects.create(patient=patient, substance="Latex", severity="mild")

    assert client.get("/patients/").status_code == 200
    assert client.get("/patients/new/").status_code == 200
    response = client.post(
        "/patients/new/",
        {
            "given_name": "Ada",
            "family_name": "Okafor",
            "birth_date": "1985-02-03",
            "sex_at_birth": "female",
            "country": "US",
            "location": location.code,
            "weight": "68",
            "weight_unit": "kg",
            "height": "170",
            "height_unit": "cm",
        },
    )
    assert response.status_code == 302
    created = Patient.objects.get(family_name="Okafor")
    assert response["Location"] == f"/patients/{created.pk}/"

    chart = client.get(f"/patients/{patient.pk}/")
    assert chart.status_code == 200
    assert b'id="demographics"' in chart.content
    for section in CLINICAL_SECTIONS:
        assert section not in chart.content
    assert b"Latex" not in chart.content

    before = _clinical_snapshot()
    for url in ("allergies", "medications", "diagnoses"):
        response = client.post(f"/patients/{patient.pk}/{url}/", _page_post_data(patient))
        assert response.status_code == 403
    assert _clinical_snapshot() == before


@pytest.mark.django_db
def test_nurse_adds_allergies_and_medications_but_not_diagnoses(location):
    _, client = _staff_client("nurse", location)
    patient = PatientFactory(home_location=location)
    chart = client.get(f"/patients/{patient.pk}/")
    for section in CLINICAL_SECTIONS:
        assert section in chart.content
    assert b"Add diagnosis" not in chart.content
    data = _page_post_data(patient)

    assert client.post(f"/patients/{patient.pk}/allergies/", data).status_code == 302
    assert client.post(f"/patients/{patient.pk}/medications/", data).status_code == 302
    assert Allergy.objects.get(patient=patient).substance == "Penicillin"
    assert Medication.objects.get(patient=patient).name == "Sertraline"

    assert client.post(f"/patients/{patient.pk}/diagnoses/", data).status_code == 403
    assert not Diagnosis.objects.filter(patient=patient).exists()
    assert client.get("/patients/new/").status_code == 403


@pytest.mark.django_db
def test_prescriber_adds_a_diagnosis(location):
    _, client = _staff_client("prescriber", location)
    patient = PatientFactory(home_location=location)
    assert b"Add diagnosis" in client.get(f"/patients/{patient.pk}/").content

    response = client.post(f"/patients/{patient.pk}/diagnoses/", _page_post_data(patient))
    assert response.status_code == 302
    assert Diagnosis.objects.get(patient=patient).code == "F20.9"
    assert AuditEvent.objects.filter(
        action=AuditAction.CREATE, patient=patient, object_type="patients.Diagnosis"
    ).exists()


@pytest.mark.django_db
def test_patient_opens_only_their_own_chart(location):
    patient = PatientFactory(home_location=location)
    client = logged_in_client(make_user("patient", patient=patient))

    assert client.get("/my/chart/").status_code == 200
    own = client.get(f"/patients/{patient.pk}/")
    assert own.status_code == 200
    assert patient.mrn.encode() in own.content
    assert client.get("/patients/").status_code == 403
    assert client.get("/patients/new/").status_code == 403
    # Reading their own chart does not let them write to it.
    before = _clinical_snapshot()
    for url in ("edit", "measurements", "allergies", "medications", "diagnoses"):
        response = client.post(f"/patients/{patient.pk}/{url}/", _page_post_data(patient))
        assert response.status_code == 403
    assert _clinical_snapshot() == before


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_audit_report_is_for_admins_only(location, role):
    if role == "patient":
        user = make_user("patient", patient=PatientFactory(home_location=location))
    else:
        user = make_user(role, location)
    client = logged_in_client(user)
    expected = 200 if role == "admin" else 403
    assert client.get("/audit/").status_code == expected
    assert client.get("/audit/export.csv").status_code == expected


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_django_admin_is_for_clinic_admins_only(location, role):
    if role == "patient":
        user = make_user("patient", patient=PatientFactory(home_location=location))
    else:
        user = make_user(role, location)
    client = logged_in_client(user)
    response = client.get("/admin/")
    if role == "admin":
        assert response.status_code == 200
        assert b"Infusion Clinic administration" in response.content
        return
    # Django's admin sends anyone it does not admit to its own log-in page, which does not
    # admit them either.
    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/admin/"
    login_page = client.get(response["Location"])
    assert login_page.status_code == 200
    assert b"not authorized to access this page" in login_page.content
    assert client.get("/admin/accounts/user/").status_code == 302


@pytest.mark.django_db
def test_django_admin_refuses_non_admin_roles_even_with_the_is_staff_flag(location):
    nurse = make_user("nurse", location)
    nurse.is_staff = True
    nurse.save(update_fields=["is_staff"])
    client = logged_in_client(nurse)
    assert client.get("/admin/").status_code == 302
    assert client.get("/admin/accounts/user/").status_code == 302


@pytest.mark.django_db
def test_django_admin_needs_the_second_factor_too(location):
    admin = make_user("admin", location)
    client = Client()
    client.force_login(admin)  # password only, no TOTP yet
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/two-factor/"
