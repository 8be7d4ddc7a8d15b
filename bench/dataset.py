"""The benchmark's own data and its in-process query counts (issue 13). Runs inside Django.

`python -m bench.dataset setup` (run by bench/run.py on the benchmark database, after
`seed_scale`) creates what the seeded volume does not give the hot requests, through the
services, so every row is one the application itself would accept:

- three staff users (front desk, nurse, prescriber) at the seeded locations, each with a
  confirmed TOTP device (2FA is on in production: the driver logs in with password + code);
- 8 patients made bookable (intake, screening, consents), each with a signed
  dosing order and an infusion session in progress *today* at the first location (operation b
  and the vitals POST write to these; the day board shows them), and with bench/ingest.py
  present, as many more at the other locations as the ingest bench has monitors (50);
- a treatment course with weekly PHQ-9 assessments for the first four (the progress chart);
- fresh API tokens.

It prints one JSON object (tokens, TOTP keys, ids) for the driver. `python -m bench.dataset
queries` prints the database query count of each hot request, measured in-process with Django's
test client and CaptureQueriesContext against the same database.

`hot_requests()` and `query_counts()` are also what tests/test_query_counts.py runs, so the test
and the benchmark measure the same requests."""

from __future__ import annotations

import json
import os
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

BENCH_PASSWORD = "Bench-runner-password-2026"  # noqa: S105 - benchmark database only
STAFF_EMAILS = {
    "desk": "bench.desk@example.com",
    "nurse": "bench.nurse@example.com",
    "prescriber": "bench.prescriber@example.com",
}
ROLES = {"desk": "front_desk", "nurse": "nurse", "prescriber": "prescriber"}
# PHQ-9 answers of a patient improving week by week; item 9 stays 0 (no SCALE-4 alert).
PHQ9_WEEKS = [
    [3, 3, 2, 2, 2, 2, 2, 2, 0],
    [2, 2, 2, 2, 2, 2, 1, 1, 0],
    [2, 2, 1, 1, 1, 1, 1, 1, 0],
    [1, 1, 1, 1, 1, 1, 1, 0, 0],
    [1, 1, 1, 0, 1, 0, 1, 0, 0],
    [1, 0, 1, 0, 0, 0, 1, 0, 0],
]
NORMAL_VITALS = {
    "systolic_mmhg": 120,
    "diastolic_mmhg": 75,
    "heart_rate_bpm": 72,
    "spo2_pct": 98,
    "respiratory_rate": 14,
}


def staff_ensure(location_codes: list[str]) -> dict[str, Any]:
    """The bench's staff users at these locations, each with one confirmed TOTP device."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from infusionclinic.accounts.models import Location, User

    locations = list(Location.objects.filter(code__in=location_codes))
    users = {}
    for key, email in STAFF_EMAILS.items():
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(
                email=email,
                password=BENCH_PASSWORD,
                role=ROLES[key],
                full_name=f"Bench {key}",
            )
        user.locations.set(locations)
        if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
            TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
        users[key] = user
    return users


def _bench_patient(location: Any, n: int, *, prescriber: Any) -> Any:
    """A patient who may be booked (intake, screening, consents: intake's own test builder) with
    an accepted indication (PROT-1) and today's weight and height."""
    from django.utils import timezone

    from infusionclinic.accounts.models import User
    from infusionclinic.dosing.tests.factories import add_height
    from infusionclinic.intake.tests.factories import bookable_patient
    from infusionclinic.patients.models import BodyMeasurement, Patient, name_search_keys
    from infusionclinic.patients.services import _new_mrn, diagnosis_add

    tag = uuid.uuid4().hex[:8]
    patient = Patient.objects.create(
        mrn=_new_mrn(),
        given_name="Bench",
        family_name=f"Session{n}",
        birth_date=timezone.localdate().replace(year=1980),
        sex_at_birth="female",
        email=f"bench.session.{tag}@example.com",
        home_location=location,
        **name_search_keys(given_name="Bench", family_name=f"Session{n}", preferred_name=""),
    )
    BodyMeasurement.objects.create(
        patient=patient,
        kind="weight",
        value_si="80.0",
        entered_value="80.0",
        entered_unit="kg",
        measured_on=timezone.localdate(),
    )
    add_height(patient, "170")
    patient.user = User.objects.create_user(
        email=f"bench.patient.{tag}@example.com", password=BENCH_PASSWORD, role="patient"
    )
    patient.save(update_fields=["user"])
    diagnosis_add(actor=prescriber, patient=patient, code="F43.10", is_primary=True)
    return bookable_patient(patient, staff=prescriber)


def session_in_progress(*, patient: Any, nurse: Any, prescriber: Any, location: Any) -> Any:
    """A signed order and an infusion running now (checked in, pre-checks, pump started)."""
    from django.utils import timezone

    from infusionclinic.dosing import services as dosing_services
    from infusionclinic.dosing.tests.factories import STANDARD
    from infusionclinic.infusions import services
    from infusionclinic.infusions.tests.factories import infusing

    draft = dosing_services.dosing_order_create(actor=prescriber, patient=patient, **STANDARD)
    order = dosing_services.dosing_order_sign(
        actor=prescriber, order=draft, password=BENCH_PASSWORD
    )
    session = services.session_create(
        actor=nurse,
        patient=patient,
        order=order,
        location=location,
        scheduled_at=timezone.now(),
    )
    return infusing(nurse, session)


def course_with_assessments(*, patient: Any, prescriber: Any, weeks: int) -> Any:
    """A course in induction with weekly PHQ-9 scores, the newest today (the progress chart)."""
    from django.utils import timezone

    from infusionclinic.courses.services import course_start
    from infusionclinic.outcomes.services import assessment_submit

    now = timezone.now()
    course = course_start(
        actor=prescriber,
        patient=patient,
        indication="depression",
        primary_instrument="PHQ-9",
        started_at=now - timedelta(weeks=weeks),
    )
    for week in range(weeks):
        assessment_submit(
            actor=prescriber,
            patient=patient,
            instrument_code="PHQ-9",
            answers=PHQ9_WEEKS[min(week, len(PHQ9_WEEKS) - 1)],
            completed_at=now - timedelta(weeks=weeks - 1 - week, minutes=5),
        )
    return course


@dataclass
class Fixtures:
    location_code: str
    users: dict[str, Any]
    session_ids: list[int]
    course_patient_ids: list[int]
    other_session_ids: list[int] = field(default_factory=list)


def clinic_fixtures(
    *, location_code: str, sessions: int, courses: int, weeks: int, elsewhere: int = 0
) -> Fixtures:
    """`sessions` infusions in progress at the location (the first `courses` patients with a
    course and `weeks` weekly scores), and `elsewhere` more at the clinic's other locations
    (for the ingest bench's monitors, without crowding the measured day board)."""
    from infusionclinic.accounts.models import Location
    from infusionclinic.courses.services import protocol_defaults_ensure

    protocol_defaults_ensure()
    location = Location.objects.get(code=location_code)
    codes = list(Location.objects.filter(clinic=location.clinic).values_list("code", flat=True))
    users = staff_ensure(codes)
    nurse, prescriber = users["nurse"], users["prescriber"]
    session_ids, course_ids = [], []
    for n in range(sessions):
        patient = _bench_patient(location, n, prescriber=prescriber)
        session = session_in_progress(
            patient=patient, nurse=nurse, prescriber=prescriber, location=location
        )
        session_ids.append(session.pk)
        if n < courses:
            course_with_assessments(patient=patient, prescriber=prescriber, weeks=weeks)
            course_ids.append(patient.pk)
    others = [loc for loc in Location.objects.filter(code__in=codes) if loc.pk != location.pk]
    other_ids = []
    for n in range(elsewhere if others else 0):
        where = others[n % len(others)]
        patient = _bench_patient(where, sessions + n, prescriber=prescriber)
        other_ids.append(
            session_in_progress(
                patient=patient, nurse=nurse, prescriber=prescriber, location=where
            ).pk
        )
    return Fixtures(location_code, users, session_ids, course_ids, other_session_ids=other_ids)


@dataclass
class HotRequest:
    """One hot page or endpoint. `who` is the user key; `api` says bearer token (else a logged-in
    browser session past 2FA). `path`/`body` are callables so each call can vary."""

    name: str
    method: str
    who: str
    api: bool
    path: Any
    body: Any = None


def vitals_body() -> dict[str, Any]:
    """One normal reading taken now (no alert), as a monitor posts it."""
    return {**NORMAL_VITALS, "taken_at": datetime.now(UTC).isoformat()}


def hot_requests(
    *,
    location_code: str,
    chart_patient_ids: list[int],
    session_ids: list[int],
    course_patient_ids: list[int],
    search_prefix: str = "smi",
    pick: Any = None,
) -> list[HotRequest]:
    """The hot pages and endpoints of issue 13, in the order the table prints them. `pick`
    chooses one id from a list (random in the benchmark, the first in the test)."""
    pick = pick or (lambda ids: ids[0])
    return [
        HotRequest(
            "day board", "GET", "nurse", False, lambda: f"/infusions/board/{location_code}/"
        ),
        HotRequest(
            "patient search", "GET", "nurse", False, lambda: f"/patients/?q={search_prefix}"
        ),
        HotRequest("chart", "GET", "nurse", False, lambda: f"/patients/{pick(chart_patient_ids)}/"),
        HotRequest(
            "progress chart",
            "GET",
            "nurse",
            False,
            lambda: f"/patients/{pick(course_patient_ids)}/outcomes/",
        ),
        HotRequest(
            "vitals POST",
            "POST",
            "nurse",
            True,
            lambda: f"/api/v1/sessions/{pick(session_ids)}/vitals",
            lambda: vitals_body(),
        ),
        HotRequest(
            "assessment POST",
            "POST",
            "nurse",
            True,
            lambda: f"/api/v1/patients/{pick(course_patient_ids)}/assessments",
            lambda: {"instrument": "PHQ-9", "answers": PHQ9_WEEKS[-1]},
        ),
        HotRequest(
            "FHIR bundle",
            "GET",
            "nurse",
            True,
            lambda: f"/api/v1/patients/{pick(chart_patient_ids)}/fhir",
        ),
    ]


def inprocess_clients(users: dict[str, Any]) -> dict[tuple[str, bool], Any]:
    """In-process clients: (user key, api) -> Client. Browser sessions are logged in past 2FA
    the way tests/factories.logged_in_client does (the HTTP benchmark logs in with a code)."""
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from infusionclinic.accounts.services import api_token_create

    clients = {}
    for key, user in users.items():
        # secure=True: production redirects plain HTTP (SECURE_SSL_REDIRECT).
        api = Client(
            headers={"Authorization": f"Bearer {api_token_create(user=user)}"},
            HTTP_HOST="127.0.0.1",
        )
        browser = Client(HTTP_HOST="127.0.0.1")
        browser.force_login(user)
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is not None:
            session = browser.session
            session[DEVICE_ID_SESSION_KEY] = device.persistent_id
            session.save()
        clients[(key, True)], clients[(key, False)] = api, browser
    return clients


def send(client: Any, hot: HotRequest) -> Any:
    path = hot.path()
    if hot.method == "GET":
        return client.get(path, secure=True)
    return client.post(
        path,
        json.dumps(hot.body()),
        content_type="application/json",
        secure=True,
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )


def query_counts(
    clients: dict[tuple[str, bool], Any], hots: list[HotRequest], *, warm_up: int = 1
) -> dict[str, int]:
    """The number of database queries of each hot request (after `warm_up` unmeasured calls that
    fill the process's caches, as a running server's are). Raises if a request fails."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = {}
    for hot in hots:
        client = clients[(hot.who, hot.api)]
        for _ in range(warm_up):
            send(client, hot)
        with CaptureQueriesContext(connection) as ctx:
            response = send(client, hot)
        if response.status_code not in (200, 201):
            raise AssertionError(f"{hot.name}: {hot.method} answered {response.status_code}")
        counts[hot.name] = len(ctx.captured_queries)
    return counts


def _setup() -> dict[str, Any]:
    from infusionclinic.accounts.services import api_token_create
    from infusionclinic.patients.models import Patient

    location_code = os.environ.get("BENCH_LOCATION", "scale0")
    fixtures = clinic_fixtures(
        location_code=location_code,
        sessions=8,
        courses=4,
        weeks=6,
        # One session per ingest monitor (bench/ingest.py runs 8 and 50), beyond the 8.
        elsewhere=int(os.environ.get("BENCH_INGEST_SESSIONS", "0")),
    )
    seeded = Patient.objects.exclude(given_name="Bench")
    return {
        "location": location_code,
        "patients": Patient.objects.count(),
        "seeded_patients": seeded.count(),
        "tokens": {key: api_token_create(user=u) for key, u in fixtures.users.items()},
        "emails": STAFF_EMAILS,
        "password": BENCH_PASSWORD,
        "totp": {key: _totp_config(u) for key, u in fixtures.users.items()},
        "session_ids": fixtures.session_ids,
        "ingest_session_ids": fixtures.session_ids + fixtures.other_session_ids,
        "course_patient_ids": fixtures.course_patient_ids,
        # Charts read by c, the chart page and the FHIR bundle: seeded patients of the location.
        "chart_patient_ids": list(
            seeded.filter(home_location__code=location_code)
            .order_by("?")
            .values_list("pk", flat=True)[:200]
        ),
    }


def _totp_config(user: Any) -> dict[str, Any]:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.get(user=user, confirmed=True)
    return {"key": device.key, "step": device.step, "t0": device.t0, "digits": device.digits}


def _queries(setup: dict[str, Any]) -> dict[str, int]:
    from infusionclinic.accounts.models import User

    users = {key: User.objects.get(email=email) for key, email in STAFF_EMAILS.items()}
    hots = hot_requests(
        location_code=setup["location"],
        chart_patient_ids=setup["chart_patient_ids"],
        session_ids=setup["session_ids"],
        course_patient_ids=setup["course_patient_ids"],
    )
    return query_counts(inprocess_clients(users), hots + operations(setup))


def operations(setup: dict[str, Any]) -> list[HotRequest]:
    """Operations a, c and d of the issue as HotRequests (b is the vitals POST)."""
    return [
        HotRequest(
            "a. create a patient",
            "POST",
            "desk",
            True,
            lambda: "/api/v1/patients",
            lambda: new_patient_body(setup["location"], uuid.uuid4().hex[:10]),
        ),
        HotRequest(
            "c. read a chart",
            "GET",
            "nurse",
            True,
            lambda: chart_read_path(setup["chart_patient_ids"][0], setup.get("chart_read")),
        ),
        HotRequest(
            "d. family-name prefix search, 20 results",
            "GET",
            "nurse",
            True,
            lambda: "/api/v1/patients?q=smi&limit=20",
        ),
        HotRequest("floor: GET /api/v1/health", "GET", "nurse", True, lambda: "/api/v1/health"),
    ]


def chart_read_path(patient_id: int, route: str | None) -> str:
    """Operation c: the chart read with the latest vitals when the API has it
    (`/patients/{id}/chart`), else the patient read."""
    return (route or "/api/v1/patients/{id}").replace("{id}", str(patient_id))


def new_patient_body(location_code: str, tag: str) -> dict[str, Any]:
    return {
        "given_name": "Bench",
        "family_name": f"Runner{tag}",
        "birth_date": "1980-01-02",
        "sex_at_birth": "female",
        "location": location_code,
        "email": "bench@example.com",
        "weight_kg": 70,
        "height_cm": 170,
    }


def main(argv: list[str]) -> int:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
    django.setup()
    if argv[:1] == ["setup"]:
        print(json.dumps(_setup()))
    elif argv[:1] == ["queries"]:
        print(json.dumps(_queries(json.loads(sys.stdin.read()))))
    else:
        print("usage: python -m bench.dataset setup | queries < setup.json", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
