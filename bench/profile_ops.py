"""Where the milliseconds of the benchmark's operations go (issue 13), in-process: each request
through Django's test client (the whole middleware chain, token or session auth, the view, the
audit event, serialisation) against the PostgreSQL database of `bench/run.py`, without the HTTP
server. Prints latency p50/p95, the median CPU time of this process
(Python: middleware, ORM, serialisation; PostgreSQL's own time is not in it) and queries per
request for each operation; `--profile OP` adds a
cProfile of that operation (top functions by cumulative time), `--sql OP` its queries.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ic_bench \\
        .venv/bin/python bench/profile_ops.py --requests 200 [--profile c] [--sql c]

Needs data from `manage.py seed_scale`; it creates its own users (front desk and nurse at the
scale locations) and, for the vitals POST, puts one of the seeded sessions into "infusing".
Never part of `make test`: speed targets live in bench/, not in timed tests."""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ic_bench")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client as _Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from infusionclinic.accounts.models import Location, User  # noqa: E402
from infusionclinic.accounts.services import api_token_create  # noqa: E402
from infusionclinic.patients.models import Patient  # noqa: E402


class Client(_Client):
    """The test client with a Host the settings allow (not "testserver")."""

    def __init__(self, **defaults: str) -> None:
        super().__init__(HTTP_HOST="127.0.0.1", **defaults)


PREFIXES = ["smi", "gar", "ngu", "oka", "kow", "had", "ros", "tan", "mur", "sch"]
PASSWORD = "Bench-runner-password-2026"  # noqa: S105 - a benchmark account on a bench database


def _user(email: str, role: str) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email, PASSWORD, role=role)
    user.locations.set(Location.objects.filter(code__startswith="scale"))
    return user


def _session_infusing(nurse: User) -> int | None:
    from infusionclinic.infusions.models import InfusionSession

    session = InfusionSession.objects.filter(location__code__startswith="scale").first()
    if session is None:
        return None
    InfusionSession.objects.filter(pk=session.pk).update(
        state="infusing", checked_in_at=timezone.now() - timedelta(hours=1)
    )
    return session.pk


def _operations(rng: random.Random) -> dict[str, Callable[[], tuple[Client, str, str, dict]]]:
    desk, nurse = (
        _user("bench.desk@example.com", "front_desk"),
        _user("bench.nurse@example.com", "nurse"),
    )
    desk_api = Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=desk)}")
    nurse_api = Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=nurse)}")
    nurse_web = Client()
    nurse_web.force_login(nurse)
    ids = list(
        Patient.objects.filter(home_location__code__startswith="scale")
        .order_by("?")
        .values_list("pk", flat=True)[:500]
    )
    session_id = _session_infusing(nurse)

    def create() -> tuple:
        body = {
            "given_name": "Bench",
            "family_name": f"Runner{rng.randrange(10**6)}",
            "birth_date": "1980-01-02",
            "sex_at_birth": "female",
            "location": "scale0",
            "email": "bench@example.com",
            "weight_kg": 70,
            "height_cm": 170,
        }
        return desk_api, "post", "/api/v1/patients", body

    def vitals() -> tuple:
        body = {
            "taken_at": timezone.now().isoformat(),
            "systolic_mmhg": 120,
            "diastolic_mmhg": 80,
            "heart_rate_bpm": 70,
            "spo2_pct": 98,
            "respiratory_rate": 14,
        }
        return nurse_api, "post", f"/api/v1/sessions/{session_id}/vitals", body

    ops = {
        "a": create,
        "c": lambda: (nurse_api, "get", f"/api/v1/patients/{rng.choice(ids)}/chart", None),
        "c0": lambda: (nurse_api, "get", f"/api/v1/patients/{rng.choice(ids)}", None),
        "d": lambda: (
            desk_api,
            "get",
            f"/api/v1/patients?q={rng.choice(PREFIXES)}&limit=20",
            None,
        ),
        "search page": lambda: (
            nurse_web,
            "post_form",
            "/patients/",
            {"q": rng.choice(PREFIXES)},
        ),
        "chart page": lambda: (nurse_web, "get", f"/patients/{rng.choice(ids)}/", None),
        "floor": lambda: (nurse_api, "get", "/api/v1/locations", None),
    }
    if session_id is not None:
        ops["b"] = vitals
    return ops


def _call(client: Client, method: str, path: str, body: dict | None) -> int:
    if method == "post":
        # Every POST carries an Idempotency-Key, as a monitor's (bench/run.py's operation b) does.
        response = client.post(
            path,
            json.dumps(body),
            content_type="application/json",
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
    elif method == "post_form":
        response = client.post(path, body)
    else:
        response = client.get(path)
    assert response.status_code in (200, 201), (path, response.status_code, response.content[:300])
    return response.status_code


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--profile", default=None, help="operation to profile with cProfile")
    parser.add_argument("--top", type=int, default=45, help="functions the profile lists")
    parser.add_argument("--sql", default=None, help="operation whose queries to print")
    args = parser.parse_args()
    rng = random.Random(13)  # noqa: S311 - benchmark inputs
    ops = _operations(rng)
    print(f"{Patient.objects.count()} patients; {args.requests} requests per operation, in-process")
    print(f"{'operation':14} {'p50 ms':>8} {'p95 ms':>8} {'CPU ms':>8} {'queries':>8}")
    for name, make in ops.items():
        if args.only and name not in args.only:
            continue
        for _ in range(10):  # warm-up: connections, caches, imports
            _call(*make())
        samples, cpu, queries = [], [], []
        # A CPU clock: on a shared machine wall time is mostly other processes' (and waits on
        # PostgreSQL, whose own CPU is not in this process).
        profiler = cProfile.Profile(time.process_time) if name == args.profile else None
        for _ in range(args.requests):
            request = make()
            with CaptureQueriesContext(connection) as captured:
                started, cpu_started = time.perf_counter(), time.process_time()
                if profiler:
                    profiler.enable()
                _call(*request)
                if profiler:
                    profiler.disable()
                samples.append(time.perf_counter() - started)
                cpu.append(time.process_time() - cpu_started)
            queries.append(len(captured.captured_queries))
        samples.sort()
        p50 = statistics.median(samples) * 1000
        p95 = samples[int(0.95 * len(samples))] * 1000
        cpu_ms = statistics.median(cpu) * 1000
        print(f"{name:14} {p50:8.2f} {p95:8.2f} {cpu_ms:8.2f} {statistics.median(queries):8.0f}")
        if name == args.sql:
            with CaptureQueriesContext(connection) as captured:
                _call(*make())
            for q in captured.captured_queries:
                print(f"  {q['time']}s  {q['sql'][:400]}")
        if profiler:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
