"""Benchmarks (issue 13), never part of `make test`. Run with `make bench`.

Against PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/ic_bench) with
the data of `manage.py seed_scale`, over HTTP to gunicorn on loopback (as the GNU Health peer was
measured), one request per operation, each writing its audit event. Prints one table and writes
it as JSON to bench/results/. Query counts come from the same requests run in-process.

Operations measured now: a. create a patient, c. read a chart (the patient; vitals join when the
infusion-session capability lands), d. search by family-name prefix (20 results), a with 4
concurrent clients. b (record a vitals set) needs the vitals API of issue 7.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = ROOT / ".venv" / "bin" / "python"
DB = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ic_bench")
N = int(os.environ.get("BENCH_REQUESTS", "300"))
PREFIXES = ["smi", "gar", "ngu", "oka", "kow", "had", "ros", "tan", "mur", "sch"]


def _manage(*args: str, capture: bool = True) -> str:
    env = {**os.environ, "DATABASE_URL": DB, "DJANGO_SETTINGS_MODULE": "config.settings.local"}
    out = subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [str(PY), "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=capture,
        text=True,
    )
    return out.stdout.strip()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 1)

    return {
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "mean_ms": round(statistics.mean(ordered) * 1000, 1),
    }


class Api:
    def __init__(self, port: int, token: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes, float]:
        started = time.perf_counter()
        self.conn.request(method, path, json.dumps(body) if body else None, self.headers)
        response = self.conn.getresponse()
        data = response.read()
        return response.status, data, time.perf_counter() - started


def _new_patient(rng: random.Random) -> dict:
    return {
        "given_name": "Bench",
        "family_name": f"Runner{rng.randrange(10**6)}",
        "birth_date": "1980-01-02",
        "sex_at_birth": "female",
        "location": "scale0",
        "email": "bench@example.com",
        "weight_kg": 70,
        "height_cm": 170,
    }


def main() -> int:
    if os.environ.get("BENCH_SEED"):
        _manage("migrate", "-v0")
        _manage("seed_scale", "--patients", os.environ["BENCH_SEED"], capture=False)
    _manage("migrate", "-v0")
    email = "bench.desk@example.com"
    with contextlib.suppress(subprocess.CalledProcessError):  # made by an earlier run
        _manage(
            "create_user",
            email,
            "--role",
            "front_desk",
            "--location",
            "scale0",
            "--location",
            "scale1",
            "--location",
            "scale2",
            "--location",
            "scale3",
            "--password",
            "Bench-runner-password-2026",
        )
    token = _manage("create_api_token", email).splitlines()[-1]
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": DB,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DEBUG": "false",
    }
    server = subprocess.Popen(  # noqa: S603
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings.local"},
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        rng = random.Random(13)  # noqa: S311 - benchmark inputs
        api = Api(port, token)
        status, body, _ = api.call("GET", "/api/v1/patients?q=&limit=100")
        ids = [p["id"] for p in json.loads(body)]
        results = {}
        for name, make in (
            ("a. create a patient", lambda: ("POST", "/api/v1/patients", _new_patient(rng))),
            ("c. read a chart", lambda: ("GET", f"/api/v1/patients/{rng.choice(ids)}", None)),
            (
                "d. search family-name prefix, 20 results",
                lambda: ("GET", f"/api/v1/patients?q={rng.choice(PREFIXES)}&limit=20", None),
            ),
        ):
            for _ in range(10):  # warm-up
                api.call(*make())
            samples, started = [], time.perf_counter()
            for _ in range(N):
                status, _, seconds = api.call(*make())
                assert status in (200, 201), status
                samples.append(seconds)
            wall = time.perf_counter() - started
            results[name] = {**_percentiles(samples), "throughput_per_s": round(N / wall, 1)}
        # a with 4 concurrent clients
        samples, lock = [], threading.Lock()

        def worker() -> None:
            local_api, local_rng = Api(port, token), random.Random()  # noqa: S311
            for _ in range(N // 4):
                status, _, seconds = local_api.call(
                    "POST", "/api/v1/patients", _new_patient(local_rng)
                )
                assert status == 201, status
                with lock:
                    samples.append(seconds)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started
        results["a with 4 concurrent clients"] = {
            **_percentiles(samples),
            "throughput_per_s": round(len(samples) / wall, 1),
        }
    finally:
        server.terminate()
        server.wait(timeout=10)
    patients = _manage(
        "shell",
        "-c",
        "from infusionclinic.patients.models import Patient; print(Patient.objects.count())",
    ).splitlines()[-1]
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": "postgresql",
        "patients": int(patients),
        "requests_per_operation": N,
        "results": results,
    }
    print(f"\n{'operation':45} {'p50':>8} {'p95':>8} {'p99':>8} {'per s':>8}")
    for name, r in results.items():
        print(
            f"{name:45} {r['p50_ms']:8} {r['p95_ms']:8} {r['p99_ms']:8} {r['throughput_per_s']:8}"
        )
    out = ROOT / "bench" / "results" / f"api-{report['when'][:10]}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {out.relative_to(ROOT)} ({patients} patients in the database)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
