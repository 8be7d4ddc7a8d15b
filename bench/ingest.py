"""Vitals ingest throughput (issue 13): bedside monitors posting readings, one per request, to
`POST /api/v1/sessions/{id}/vitals` with an `Idempotency-Key`, each monitor on its own keep-alive
connection and its own infusing session, against gunicorn with the production worker count
(`WEB_CONCURRENCY`, default 3, as `make serve`) and the audit hash chain on. Never part of
`make test`.

Run alone:  .venv/bin/python bench/ingest.py            (PostgreSQL at BENCH_DATABASE_URL)
            BENCH_INGEST_SECONDS=20 BENCH_INGEST_MONITORS=8,50 BENCH_INGEST_BATCH=1,10 \
              .venv/bin/python bench/ingest.py
BENCH_INGEST_BATCH lists readings per request: 1 posts to /vitals, more to /vitals/batch.
From another bench: `prepare_sessions(count)` then `run_ingest(port, tokens, sessions, monitors,
seconds)`; both are plain functions.

The sessions are made through the services, as a clinic would (`--prepare N`, run in a Django
process): a patient with weight, diagnosis, intake, screening and consents (the test
factories' `bookable_patient`), a signed dosing order, a session checked in, pre-checked and
infusing. They live at location `ingest`.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import secrets
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = ROOT / ".venv" / "bin" / "python"
DB = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ic_bench")
LOCATION = "ingest"
# The benchmark databases' audit key (thrown-away data; production refuses to start without one).
BENCH_AUDIT_KEY = "bench-only-audit-key-not-a-secret-0123456789"  # noqa: S105


def _server_env() -> dict[str, str]:
    """Production settings, served over plain HTTP on loopback."""
    return {
        **os.environ,
        "DATABASE_URL": DB,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": os.environ.get("BENCH_SECRET_KEY", secrets.token_urlsafe(48)),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "AUDIT_HMAC_KEYS": json.dumps({"bench": BENCH_AUDIT_KEY}),
        "AUDIT_HMAC_KEY_ID": "bench",
        "SECURE_SSL_REDIRECT": "false",
        "DEMO_MODE": "false",
        "DEBUG": "false",
    }


# --- Setup: sessions to post to ------------------------------------------------------------------


def prepare_sessions(count: int, env: dict[str, str] | None = None) -> dict[str, list]:
    """Make `count` infusing sessions (reusing earlier ones) and one API token per monitor, in a
    Django process. Returns {"tokens": [...], "sessions": [...]}."""
    out = subprocess.run(  # noqa: S603 - our own interpreter and this file
        [str(PY), str(Path(__file__).resolve()), "--prepare", str(count)],
        cwd=ROOT,
        env=env or _server_env(),
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _prepare_in_django(count: int) -> dict[str, list]:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from datetime import timedelta

    from django.utils import timezone

    from infusionclinic.accounts.models import Location, User
    from infusionclinic.accounts.services import api_token_create, location_create
    from infusionclinic.courses.services import protocol_defaults_ensure
    from infusionclinic.dosing import services as dosing_services
    from infusionclinic.infusions.models import InfusionSession
    from infusionclinic.infusions.tests import factories as visit
    from infusionclinic.intake.tests.factories import bookable_patient
    from infusionclinic.patients.services import diagnosis_add
    from tests.factories import PASSWORD, PatientFactory, add_weight

    protocol_defaults_ensure()
    location = Location.objects.filter(code=LOCATION).first() or location_create(
        code=LOCATION, name="Ingest bench", timezone_name="America/New_York", clinic_name="Bench"
    )

    def staff(role: str) -> User:
        email = f"ingest.{role}@example.com"
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(
                email=email, password=PASSWORD, role=role, full_name=f"Ingest {role}"
            )
            user.locations.set([location])
        return user

    nurse, prescriber = staff("nurse"), staff("prescriber")
    infusing = list(
        InfusionSession.objects.filter(location=location, state="infusing").order_by("pk")[:count]
    )
    while len(infusing) < count:
        patient = PatientFactory(home_location=location)
        add_weight(patient, "80.0", timezone.localdate() - timedelta(days=2))
        patient.user = User.objects.create_user(
            email=f"ingest.patient{patient.pk}@example.com", password=PASSWORD, role="patient"
        )
        patient.save(update_fields=["user"])
        diagnosis_add(actor=prescriber, patient=patient, code="F43.10", is_primary=True)
        bookable_patient(patient, staff=prescriber)
        draft = dosing_services.dosing_order_create(
            actor=prescriber,
            patient=patient,
            indication="depression",
            weight_basis="actual",
            sex_for_dosing="female",
            dose_mg_per_kg="0.5",
            duration_min=40,
            concentration_mg_per_ml="1",
        )
        order = dosing_services.dosing_order_sign(actor=prescriber, order=draft, password=PASSWORD)
        session = visit.session_for(nurse, patient, order, location)
        infusing.append(visit.infusing(nurse, session))
    tokens = [api_token_create(user=nurse) for _ in range(count)]
    return {"tokens": tokens, "sessions": [s.pk for s in infusing]}


# --- The load ----------------------------------------------------------------------------------


def _reading(rng: random.Random) -> dict:
    """Ordinary readings (no alert): what a monitor sends most of the time."""
    return {
        "taken_at": datetime.now(UTC).isoformat(timespec="microseconds"),
        "systolic_mmhg": rng.randint(112, 128),
        "diastolic_mmhg": rng.randint(68, 80),
        "heart_rate_bpm": rng.randint(64, 84),
        "spo2_pct": rng.randint(96, 99),
        "respiratory_rate": rng.randint(12, 16),
    }


def _pct(ordered: list[float], p: float) -> float:
    return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 1)


def run_ingest(
    port: int,
    tokens: list[str],
    sessions: list[int],
    monitors: int,
    seconds: float,
    batch: int = 1,
) -> dict:
    """`monitors` threads, each with its own keep-alive connection, token and session, posting
    for `seconds`: one reading per request to /vitals (batch=1) or `batch` readings per request
    to /vitals/batch. Returns readings/s, requests/s and request latency percentiles."""
    if monitors > min(len(tokens), len(sessions)):
        raise ValueError(f"{monitors} monitors need as many sessions and tokens")
    latencies: list[list[float]] = [[] for _ in range(monitors)]
    failures: list[str] = []
    start = threading.Barrier(monitors + 1)
    stop_at = [0.0]

    def monitor(i: int) -> None:
        rng = random.Random(i)  # noqa: S311 - benchmark inputs
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        path = f"/api/v1/sessions/{sessions[i]}/vitals" + ("/batch" if batch > 1 else "")
        headers = {
            "Authorization": f"Bearer {tokens[i]}",
            "Content-Type": "application/json",
            # The production server sits behind the TLS proxy (SECURE_SSL_REDIRECT stays on).
            "X-Forwarded-Proto": "https",
        }
        start.wait()
        while time.perf_counter() < stop_at[0]:
            if batch > 1:
                body = json.dumps({"readings": [_reading(rng) for _ in range(batch)]})
            else:
                body = json.dumps(_reading(rng))
            sent = time.perf_counter()
            try:
                conn.request("POST", path, body, {**headers, "Idempotency-Key": str(uuid.uuid4())})
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as exc:
                failures.append(repr(exc))
                conn.close()
                continue
            if response.status != 201:
                failures.append(f"HTTP {response.status}")
                continue
            latencies[i].append(time.perf_counter() - sent)
        conn.close()

    threads = [threading.Thread(target=monitor, args=(i,)) for i in range(monitors)]
    for t in threads:
        t.start()
    stop_at[0] = time.perf_counter() + seconds
    started = time.perf_counter()
    start.wait()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    ordered = sorted(x for per_monitor in latencies for x in per_monitor)
    return {
        "monitors": monitors,
        "readings_per_request": batch,
        "seconds": round(wall, 1),
        "readings": len(ordered) * batch,
        "readings_per_s": round(len(ordered) * batch / wall, 1),
        "requests_per_s": round(len(ordered) / wall, 1),
        "p50_ms": _pct(ordered, 0.50) if ordered else None,
        "p95_ms": _pct(ordered, 0.95) if ordered else None,
        "p99_ms": _pct(ordered, 0.99) if ordered else None,
        "failures": len(failures),
        "first_failure": failures[0] if failures else "",
    }


def _manage(env: dict[str, str], *args: str) -> str:
    out = subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [str(PY), "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env: dict[str, str], port: int) -> subprocess.Popen:
    """gunicorn as `make serve` runs it: WEB_CONCURRENCY sync workers (default 3);
    BENCH_GUNICORN_ARGS adds options (e.g. "--threads 4") to compare worker classes."""
    extra = os.environ.get("BENCH_GUNICORN_ARGS", "").split()
    server = subprocess.Popen(  # noqa: S603
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            os.environ.get("WEB_CONCURRENCY", "3"),
            "--log-level",
            "warning",
            *extra,
        ],
        cwd=ROOT,
        env=env,
    )
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server
        except OSError:
            time.sleep(0.1)
    server.terminate()
    raise RuntimeError("gunicorn did not start")


def main() -> int:
    monitor_counts = [int(n) for n in os.environ.get("BENCH_INGEST_MONITORS", "8,50").split(",")]
    batches = [int(n) for n in os.environ.get("BENCH_INGEST_BATCH", "1,10").split(",")]
    seconds = float(os.environ.get("BENCH_INGEST_SECONDS", "20"))
    env = _server_env()
    _manage(env, "migrate", "-v0")
    prepared = prepare_sessions(max(monitor_counts), env)
    _manage(env, "audit_seal")
    port = _free_port()
    server = start_server(env, port)
    results = []
    try:
        run_ingest(port, prepared["tokens"], prepared["sessions"], min(monitor_counts), 2)  # warm
        for batch in batches:
            for monitors in monitor_counts:
                results.append(
                    run_ingest(
                        port, prepared["tokens"], prepared["sessions"], monitors, seconds, batch
                    )
                )
    finally:
        server.terminate()
        try:
            server.wait(timeout=120)  # a loaded machine drains the workers slowly
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    verified = _manage(env, "verify_audit")
    print(
        f"\n{'monitors':>8} {'per req':>7} {'readings/s':>11} {'req/s':>7} {'p50 ms':>8} "
        f"{'p95 ms':>8} {'p99 ms':>8} {'fail':>5}"
    )
    for r in results:
        if r["p50_ms"] is None:  # no request succeeded: say why instead of a table row
            print(f"{r['monitors']:8} {r['readings_per_request']:7} failed: {r['first_failure']}")
            continue
        print(
            f"{r['monitors']:8} {r['readings_per_request']:7} {r['readings_per_s']:11} "
            f"{r['requests_per_s']:7} {r['p50_ms']:8} {r['p95_ms']:8} {r['p99_ms']:8} "
            f"{r['failures']:5}"
        )
    print(f"load average after the run: {os.getloadavg()}")
    print(verified)
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": "postgresql",
        "workers": os.environ.get("WEB_CONCURRENCY", "3"),
        "gunicorn_args": os.environ.get("BENCH_GUNICORN_ARGS", ""),
        "audit_seal_mode": os.environ.get("AUDIT_SEAL_MODE", "after_commit"),
        "load_average": os.getloadavg(),
        "results": results,
        "verify_audit": verified,
    }
    out = ROOT / "bench" / "results" / f"ingest-{report['when'][:10]}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--prepare":
        print(json.dumps(_prepare_in_django(int(sys.argv[2]))))
        sys.exit(0)
    sys.exit(main())
