"""Benchmarks (issue 13), never part of `make test`. Run with `make bench`; bench/README.md says
what each figure is and holds the last ones.

For each size in BENCH_SIZES (default 1000,100000 patients), on the local PostgreSQL:

1. a database `ic_bench_<size>_seed` is created, migrated and seeded with
   `manage.py seed_scale --patients <size>`, once: it is reused while its size and the
   generator (seed_scale.py) are unchanged (the database comment records both);
2. each run works on a fresh copy of it, `ic_bench_<size>` (CREATE DATABASE ... TEMPLATE), so every
   run starts from the same data, and `python -m bench.dataset setup` adds the bench's staff
   users (with TOTP devices), infusion sessions in progress today and a course with weekly
   assessments, through the services;
3. the production server runs as `make serve` runs it (production settings, gunicorn,
   WEB_CONCURRENCY workers, default 3), with a random SECRET_KEY and ALLOWED_HOSTS=127.0.0.1;
4. this process drives it over HTTP on loopback, one client (or 4 for b×4), a new TCP connection
   per request as gunicorn's sync workers close them, `X-Forwarded-Proto: https` as the TLS proxy
   in front of production sends. Staff pages use a browser session logged in with password and
   TOTP code, the API a bearer token;
5. the query count of each request is measured in-process (bench.dataset queries);
6. `manage.py fhir_export` runs as a child process: resources/s and its peak RSS.

Environment: BENCH_SIZES, BENCH_REQUESTS (per measured request, default 200), WEB_CONCURRENCY,
BENCH_POSTGRES (server URL without database, default postgres://postgres@127.0.0.1:5432),
BENCH_RESEED=1 (seed again even if the size matches). Prints one table and writes it as JSON to
bench/results/bench-<time>.json."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.dataset import chart_read_path, hot_requests, new_patient_body, vitals_body  # noqa: E402
from bench.ingest import BENCH_AUDIT_KEY  # noqa: E402

BIN = ROOT / ".venv" / "bin"
PG = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432").rstrip("/")
SIZES = [int(s) for s in os.environ.get("BENCH_SIZES", "1000,100000").split(",") if s.strip()]
N = int(os.environ.get("BENCH_REQUESTS", "200"))
WORKERS = int(os.environ.get("WEB_CONCURRENCY", "3"))  # make serve's default
WARM_UP = 10
# Family-name prefixes of seed_scale's names (three letters, 20 results wanted).
PREFIXES = ["smi", "gar", "ngu", "oka", "kow", "had", "ros", "tan", "mur", "sch"]
SEED_SCALE = ROOT / "infusionclinic" / "ops" / "management" / "commands" / "seed_scale.py"
# The generator itself lives in ops/scale.py (and seals with audit/bulk.py): a change to either
# must seed again too.
SEED_SOURCES = [
    SEED_SCALE,
    ROOT / "infusionclinic" / "ops" / "scale.py",
    ROOT / "infusionclinic" / "audit" / "bulk.py",
]

# The peer of issue 13 (GNU Health, 10,000 patients, same machine kind): p50, p95 ms, per s.
PEER = {
    "a. create a patient": (19, 26, 50),
    "b. record one vitals set": (15, 19, 66),
    "c. read a chart": (25, 35, 38),
    "d. family-name prefix search, 20 results": (21, 28, 47),
    "b with 4 concurrent clients": (62, 85, 64),
}
# Budgets of issue 13 (at 100,000 patients).
OP_P50_MS, OP_P95_MS = 8.0, 15.0
PAGE_P95_MS, PAGE_GROWTH = 50.0, 1.2
FHIR_RATE_PER_S, INGEST_PER_S = 5000.0, 600.0

# Vitals ingest with 8 and 50 concurrent monitors is bench/ingest.py (the `seal` branch):
# run_ingest(port, tokens, sessions, monitors, seconds) -> {"readings_per_s": ..., ...}, one
# in-progress session per monitor. Wired in _ingest(); without the module the table says "not
# measured". Its client must send `X-Forwarded-Proto: https` like Client below: this server runs
# production settings (SECURE_SSL_REDIRECT).
INGEST_MONITORS = (8, 50)
INGEST_SECONDS = float(os.environ.get("BENCH_INGEST_SECONDS", "20"))
EXPORT_SECONDS = float(os.environ.get("BENCH_EXPORT_SECONDS", "60"))
try:
    from bench.ingest import run_ingest  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - the module lands with the ingest helper's branch
    run_ingest = None


def label(size: int) -> str:
    return f"{size // 1000}k" if size % 1000 == 0 else str(size)


# --- PostgreSQL databases -----------------------------------------------------------------------


def _admin() -> Any:
    import psycopg

    return psycopg.connect(f"{PG}/postgres", autocommit=True)


def _exists(cur: Any, name: str) -> bool:
    cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
    return cur.fetchone() is not None


def _drop(cur: Any, name: str) -> None:
    from psycopg import sql

    cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])
    cur.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def _marker(size: int) -> str:
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in SEED_SOURCES)).hexdigest()[:12]
    return json.dumps({"seed_scale_patients": size, "seed_scale_sha256": digest})


def database_for(size: int, env: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """A fresh copy of the seeded database of this size (seeding it first if needed)."""
    from psycopg import sql

    seed, run = f"ic_bench_{label(size)}_seed", f"ic_bench_{label(size)}"
    info: dict[str, Any] = {"seed_database": seed, "database": run}
    with _admin() as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            [seed],
        )
        row = cur.fetchone()
        fresh = row is None or row[0] != _marker(size) or os.environ.get("BENCH_RESEED") == "1"
        if fresh:
            _drop(cur, seed)
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(seed)))
    seed_env = {**env, "DATABASE_URL": f"{PG}/{seed}"}
    _manage(seed_env, "migrate", "--noinput", "-v0")
    if fresh:
        started = time.perf_counter()
        # The seed database is new and nothing else uses it: the big tables' secondary indexes
        # are dropped for the load and built again, sorted, at the end (see bench/README.md).
        _manage(seed_env, "seed_scale", "--patients", str(size), "--rebuild-indexes", capture=False)
        info["seed_seconds"] = round(time.perf_counter() - started, 1)
        with _admin() as conn, conn.cursor() as cur:
            cur.execute(
                sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                    sql.Identifier(seed), sql.Literal(_marker(size))
                )
            )
    info["seeded_now"] = fresh
    started = time.perf_counter()
    with _admin() as conn, conn.cursor() as cur:
        _drop(cur, run)
        cur.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(run), sql.Identifier(seed)
            )
        )
        cur.execute("SELECT pg_database_size(%s)", [run])
        info["database_bytes"] = cur.fetchone()[0]
    info["copy_seconds"] = round(time.perf_counter() - started, 1)
    return run, info


# --- Django processes ---------------------------------------------------------------------------


def production_env() -> dict[str, str]:
    """Production settings as `make serve` uses them; the secrets it refuses to start without
    are made up for this run (the benchmark database is thrown away)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        # The audit chain's key (production refuses to start without one). Fixed, not random:
        # the seed database is reused across runs and its chain must verify under the same key.
        AUDIT_HMAC_KEYS=json.dumps({"bench": BENCH_AUDIT_KEY}),
        AUDIT_HMAC_KEY_ID="bench",
        DEMO_MODE="false",
        LOG_LEVEL=os.environ.get("LOG_LEVEL", "WARNING"),
    )
    return env


def _manage(env: dict[str, str], *args: str, capture: bool = True, stdin: str = "") -> str:
    out = subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [str(BIN / "python"), "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=capture,
        text=True,
        input=stdin or None,
    )
    return (out.stdout or "").strip()


def _dataset(env: dict[str, str], action: str, stdin: str = "") -> Any:
    out = subprocess.run(  # noqa: S603
        [str(BIN / "python"), "-m", "bench.dataset", action],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        input=stdin or None,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(env: dict[str, str], port: int, access_log: Path) -> subprocess.Popen:
    server = subprocess.Popen(  # noqa: S603 - as `make serve`
        [
            str(BIN / "gunicorn"),
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(WORKERS),
            "--access-logfile",
            str(access_log),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            status, _, _ = Client(port).call("GET", "/api/v1/health")
            if status == 200:
                return server
        except OSError:
            pass
        time.sleep(0.2)
    server.terminate()
    raise RuntimeError("gunicorn did not answer /api/v1/health within 60 s")


# --- HTTP client --------------------------------------------------------------------------------


def totp(key_hex: str, *, step: int = 30, t0: int = 0, digits: int = 6, at: float = 0) -> str:
    """RFC 6238 (HMAC-SHA1), as django-otp's TOTP devices check it."""
    counter = int(((at or time.time()) - t0) // step)
    digest = hmac.new(bytes.fromhex(key_hex), struct.pack(">Q", counter), "sha1").digest()
    offset = digest[-1] & 0x0F
    code = (struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 10**digits
    return f"{code:0{digits}d}"


class Client:
    """One client on loopback: the TLS proxy's X-Forwarded-Proto, a bearer token or a session's
    cookies. http.client reconnects by itself when the server closes the connection."""

    def __init__(self, port: int, token: str = "") -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"X-Forwarded-Proto": "https"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.cookies: dict[str, str] = {}

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes, float]:
        sent = {**self.headers, **(headers or {})}
        data = None
        if form is not None:
            data = urlencode(form)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body)
            sent["Content-Type"] = "application/json"
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        started = time.perf_counter()
        self.conn.request(method, path, data, sent)
        response = self.conn.getresponse()
        payload = response.read()
        seconds = time.perf_counter() - started
        for header in response.msg.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response.status, payload, seconds

    def login(self, email: str, password: str, device: dict[str, Any]) -> None:
        """Password, then the TOTP code, through the log-in pages as a browser does."""
        origin = f"https://127.0.0.1:{self.port}"
        csrf = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')
        status, page, _ = self.call("GET", "/accounts/login/")
        status, _, _ = self.call(
            "POST",
            "/accounts/login/",
            form={
                "username": email,
                "password": password,
                "csrfmiddlewaretoken": csrf.search(page).group(1).decode(),
            },
            headers={"Origin": origin, "Referer": f"{origin}/accounts/login/"},
        )
        if status != 302:
            raise RuntimeError(f"log-in of {email} answered {status}")
        for _ in range(3):
            status, page, _ = self.call("GET", "/accounts/two-factor/")
            code = totp(
                device["key"], step=device["step"], t0=device["t0"], digits=device["digits"]
            )
            status, _, _ = self.call(
                "POST",
                "/accounts/two-factor/",
                form={"token": code, "csrfmiddlewaretoken": csrf.search(page).group(1).decode()},
                headers={"Origin": origin, "Referer": f"{origin}/accounts/two-factor/"},
            )
            if status == 302:
                return
            # A code is accepted once (django-otp): wait for the next one.
            time.sleep(device["step"] - time.time() % device["step"] + 0.5)
        raise RuntimeError(f"two-factor log-in of {email} failed")


# --- Measuring ----------------------------------------------------------------------------------


def summary(samples: list[float], wall: float) -> dict[str, float]:
    ordered = sorted(samples)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 1)

    return {
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "mean_ms": round(statistics.mean(ordered) * 1000, 1),
        "throughput_per_s": round(len(ordered) / wall, 1),
        "requests": len(ordered),
    }


Request = Callable[[], tuple[str, str, Any, dict[str, str]]]


def measure(make_client: Callable[[], Client], request: Request, *, clients: int = 1) -> dict:
    """N requests (after a warm-up) from `clients` concurrent clients, each its own connection.
    Any answer other than 200/201 stops the benchmark: a fast error is no result."""
    samples: list[float] = []
    lock = threading.Lock()

    def one(client: Client) -> float:
        method, path, body, headers = request()
        status, payload, seconds = client.call(method, path, body, headers=headers)
        if status not in (200, 201):
            raise RuntimeError(f"{method} {path} answered {status}: {payload[:300]!r}")
        return seconds

    def worker(count: int, errors: list[BaseException]) -> None:
        client = make_client()
        try:
            for _ in range(count):
                seconds = one(client)
                with lock:
                    samples.append(seconds)
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            errors.append(exc)

    warm = make_client()
    for _ in range(WARM_UP):
        one(warm)
    errors: list[BaseException] = []
    threads = [threading.Thread(target=worker, args=(N // clients, errors)) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    if errors:
        raise errors[0]
    return summary(samples, wall)


def chart_route(client: Client, patient_id: int) -> tuple[str, bool]:
    """The API route of operation c: `/patients/{id}/chart` once the API has it, else the patient
    read; and whether its answer carries the latest vitals (issue 13's chart read does)."""
    _, body, _ = client.call("GET", "/api/v1/openapi.json")
    paths = json.loads(body)["paths"]
    route = (
        "/api/v1/patients/{id}/chart"
        if "/api/v1/patients/{patient_id}/chart" in paths
        else "/api/v1/patients/{id}"
    )
    _, body, _ = client.call("GET", chart_read_path(patient_id, route))
    return route, any("vital" in key for key in json.loads(body))


def fhir_export(env: dict[str, str], location: str) -> dict[str, Any]:
    """`manage.py fhir_export` as a child: resources per second (the process's start-up, measured
    on its own with a location that does not exist, is taken off) and its peak RSS. A location of
    the 100k database holds millions of resources, so the child is stopped after
    BENCH_EXPORT_SECONDS (default 60) and the complete lines it wrote by then are counted: the
    rate and the peak memory of a constant-memory export are the same over any window."""

    def child(*args: str, limit: float | None = None) -> tuple[float, int, int, bool]:
        started = time.perf_counter()
        proc = subprocess.Popen(  # noqa: S603
            [str(BIN / "python"), "manage.py", "fhir_export", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        stopped = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if limit is not None and time.perf_counter() - started >= limit:
                proc.send_signal(signal.SIGKILL)
                stopped = True
                _, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        # ru_maxrss is in KiB on Linux.
        return time.perf_counter() - started, usage.ru_maxrss, proc.returncode, stopped

    out = Path(tempfile.mkdtemp(prefix="bench-fhir-"))
    try:
        startup, startup_rss, _, _ = child("--location", "no-such-location", "--out", str(out))
        seconds, rss_kib, code, stopped = child(
            "--location", location, "--out", str(out), limit=EXPORT_SECONDS
        )
        if code != 0 and not stopped:
            raise RuntimeError(f"fhir_export exited with {code}")
        per_type = {}
        for path in sorted(out.glob("*.ndjson")):
            with path.open("rb") as fh:  # complete lines only: a stopped child may leave half
                per_type[path.stem] = sum(1 for line in fh if line.endswith(b"\n"))
    finally:
        shutil.rmtree(out, ignore_errors=True)
    resources = sum(per_type.values())
    work = max(seconds - startup, 1e-6)
    return {
        "location": location,
        "resources": resources,
        "per_type": per_type,
        "seconds": round(seconds, 2),
        "stopped_after_window": stopped,
        "startup_seconds": round(startup, 2),
        "resources_per_s": round(resources / work, 1),
        "peak_rss_mib": round(rss_kib / 1024, 1),
        "startup_rss_mib": round(startup_rss / 1024, 1),
    }


def _ingest(port: int, setup: dict[str, Any]) -> dict[str, Any]:
    if run_ingest is None:
        return {"note": "not measured: bench/ingest.py (run_ingest) is not on this branch"}
    sessions = setup["ingest_session_ids"]
    tokens = [setup["tokens"]["nurse"]] * len(sessions)
    # One reading per request (the route), then the batch route a monitor uses to send
    # what it buffered (10 readings per request): keys "8", "50", "8x10", "50x10".
    runs = {}
    for batch in (1, 10):
        for monitors in INGEST_MONITORS:
            key = str(monitors) if batch == 1 else f"{monitors}x{batch}"
            runs[key] = run_ingest(port, tokens, sessions, monitors, INGEST_SECONDS, batch)
    return runs


def bench_size(size: int) -> dict[str, Any]:
    env = production_env()
    print(f"\n== {size:,} patients", flush=True)
    _manage(env, "check", "--deploy", "--fail-level", "ERROR")
    _manage(env, "collectstatic", "--noinput", "-v0")
    database, info = database_for(size, env)
    env["DATABASE_URL"] = f"{PG}/{database}"
    if run_ingest is not None:
        env["BENCH_INGEST_SESSIONS"] = str(max(INGEST_MONITORS) - 8)
    setup = _dataset(env, "setup")
    info.update(patients=setup["patients"], seeded_patients=setup["seeded_patients"])
    print(f"   database {database}: {json.dumps(info)}", flush=True)
    logs = ROOT / "var" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    server = serve(env, port, logs / f"access-{label(size)}.log")
    rng = random.Random(13)  # noqa: S311 - benchmark inputs
    results: dict[str, Any] = {}
    try:
        nurse_api = lambda: Client(port, setup["tokens"]["nurse"])  # noqa: E731
        desk_api = lambda: Client(port, setup["tokens"]["desk"])  # noqa: E731
        route, chart_has_vitals = chart_route(nurse_api(), setup["chart_patient_ids"][0])
        setup["chart_read"] = route
        # A check, not a timing: the prefix search answers 20 patients.
        _, body, _ = nurse_api().call("GET", "/api/v1/patients?q=smi&limit=20")
        search_results = len(json.loads(body))

        def vitals_post() -> tuple[str, str, Any, dict[str, str]]:
            return (
                "POST",
                f"/api/v1/sessions/{rng.choice(setup['session_ids'])}/vitals",
                vitals_body(),
                {"Idempotency-Key": uuid.uuid4().hex},  # as a monitor sends it
            )

        ops: dict[str, tuple[Callable[[], Client], Request, int]] = {
            "a. create a patient": (
                desk_api,
                lambda: (
                    "POST",
                    "/api/v1/patients",
                    new_patient_body(setup["location"], uuid.uuid4().hex[:10]),
                    {},
                ),
                1,
            ),
            "b. record one vitals set": (nurse_api, vitals_post, 1),
            "c. read a chart": (
                nurse_api,
                lambda: (
                    "GET",
                    chart_read_path(rng.choice(setup["chart_patient_ids"]), route),
                    None,
                    {},
                ),
                1,
            ),
            "d. family-name prefix search, 20 results": (
                nurse_api,
                lambda: ("GET", f"/api/v1/patients?q={rng.choice(PREFIXES)}&limit=20", None, {}),
                1,
            ),
            "b with 4 concurrent clients": (nurse_api, vitals_post, 4),
        }
        floor_request: Request = lambda: ("GET", "/api/v1/health", None, {})  # noqa: E731
        results["floor"] = measure(lambda: Client(port), floor_request)
        print(f"   floor GET /api/v1/health: {results['floor']}", flush=True)
        results["operations"] = {}
        for name, (make, request, clients) in ops.items():
            results["operations"][name] = measure(make, request, clients=clients)
            print(f"   {name}: {results['operations'][name]}", flush=True)
        results["pages"] = {}
        # Logged in just before the pages: IDLE_TIMEOUT_MINUTES would end an idle session.
        browser = Client(port)
        browser.login(setup["emails"]["nurse"], setup["password"], setup["totp"]["nurse"])
        hots = hot_requests(
            location_code=setup["location"],
            chart_patient_ids=setup["chart_patient_ids"],
            session_ids=setup["session_ids"],
            course_patient_ids=setup["course_patient_ids"],
            search_prefix="smi",
            pick=rng.choice,
        )
        for hot in hots:

            def request(hot: Any = hot) -> tuple[str, str, Any, dict[str, str]]:
                headers = {"Idempotency-Key": uuid.uuid4().hex} if hot.method == "POST" else {}
                return hot.method, hot.path(), hot.body() if hot.body else None, headers

            clients = {"nurse": nurse_api, "desk": desk_api}
            make = clients[hot.who] if hot.api else (lambda: browser)  # one logged-in browser
            results["pages"][hot.name] = measure(make, request)
            print(f"   {hot.name}: {results['pages'][hot.name]}", flush=True)
        results["floor_again"] = measure(lambda: Client(port), floor_request)
        results["ingest"] = _ingest(port, setup)
    finally:
        server.terminate()
        server.wait(timeout=30)
    results["queries"] = _dataset(env, "queries", json.dumps(setup))
    results["fhir_export"] = fhir_export(env, setup["location"])
    print(f"   fhir_export: {results['fhir_export']}", flush=True)
    return {
        "patients": size,
        "database": info,
        "search_results": search_results,
        "chart_read_route": route,
        "chart_read_has_vitals": chart_has_vitals,
        **results,
    }


# --- Report -------------------------------------------------------------------------------------


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "NOT met")


def report(runs: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Budgets are judged at the largest size run (issue 13 sets them at 100,000)."""
    sizes = sorted(runs)
    small, big = runs[sizes[0]], runs[sizes[-1]]
    checks: dict[str, Any] = {"judged_at_patients": sizes[-1]}
    for name, r in big["operations"].items():
        ok = r["p50_ms"] <= OP_P50_MS and r["p95_ms"] <= OP_P95_MS
        checks[name] = _verdict(ok if "4 concurrent" not in name else None)
    for name, r in big["pages"].items():
        growth = r["p50_ms"] / small["pages"][name]["p50_ms"] if len(sizes) > 1 else None
        ok = r["p95_ms"] < PAGE_P95_MS and (growth is None or growth <= PAGE_GROWTH)
        checks[name] = _verdict(ok)
        checks[f"{name} queries"] = _verdict(
            len({runs[s]["queries"][name] for s in sizes}) == 1 if len(sizes) > 1 else None
        )
    fhir = [runs[s]["fhir_export"] for s in sizes]
    checks["fhir_export rate"] = _verdict(fhir[-1]["resources_per_s"] >= FHIR_RATE_PER_S)
    checks["fhir_export memory"] = _verdict(
        fhir[-1]["peak_rss_mib"] <= 1.2 * fhir[0]["peak_rss_mib"] if len(sizes) > 1 else None
    )
    ingest = big["ingest"]
    checks["vitals ingest"] = _verdict(
        None
        if "note" in ingest
        else all(r.get("readings_per_s", 0) >= INGEST_PER_S for r in ingest.values())
    )
    return checks


def print_table(runs: dict[int, dict[str, Any]], checks: dict[str, Any]) -> None:
    sizes = sorted(runs)
    small, big = runs[sizes[0]], runs[sizes[-1]]
    s, b = label(sizes[0]), label(sizes[-1])

    def ms(r: dict[str, Any]) -> str:
        return f"{r['p50_ms']:.1f}/{r['p95_ms']:.1f}/{r['p99_ms']:.1f}"

    print(f"\nOperations (p50/p95/p99 ms, per s); GNU Health at 10k; budget at {b}")
    head = f"{'operation':42} {'GNU Health':>15}"
    for size in sizes:
        head += f" {label(size) + ' p50/p95/p99':>22} {'per s':>7}"
    print(head + f" {'budget':>8}")
    for name, (p50, p95, rate) in PEER.items():
        line = f"{name:42} {f'{p50}/{p95} {rate}/s':>15}"
        for size in sizes:
            r = runs[size]["operations"][name]
            line += f" {ms(r):>22} {r['throughput_per_s']:7.1f}"
        print(line + f" {checks[name]:>8}")

    print(
        f"c. read a chart: {big['chart_read_route']}"
        f" ({'with' if big['chart_read_has_vitals'] else 'WITHOUT'} the latest vitals)"
    )
    print(f"\nHot pages (p50/p95/p99 ms, queries, p50 / floor p50); {b}/{s} = p50 ratio")
    head = f"{'page':24}"
    for size in sizes:
        head += f" {label(size) + ' p50/p95/p99':>20} {'q':>3} {'×floor':>6}"
    print(head + f" {f'{b}/{s}':>7} {'budget':>8} {'queries':>8}")
    rows = [("floor GET /api/v1/health", None)] + [(name, name) for name in big["pages"]]
    for title, name in rows:
        line = f"{title:24}"
        for size in sizes:
            run = runs[size]
            r = run["floor"] if name is None else run["pages"][name]
            q = run["queries"]["floor: GET /api/v1/health" if name is None else name]
            line += f" {ms(r):>20} {q:>3} {r['p50_ms'] / run['floor']['p50_ms']:6.1f}"
        r_big = big["floor"] if name is None else big["pages"][name]
        r_small = small["floor"] if name is None else small["pages"][name]
        line += f" {r_big['p50_ms'] / r_small['p50_ms']:7.2f}"
        if name is not None:
            line += f" {checks[name]:>8} {checks[name + ' queries']:>8}"
        print(line)

    print("\nFHIR bulk export (fhir_export, one location), vitals ingest")
    for size in sizes:
        f = runs[size]["fhir_export"]
        print(
            f"  {label(size):>5}: {f['resources']} resources, {f['resources_per_s']:.0f}/s "
            f"(budget {FHIR_RATE_PER_S:.0f}/s), peak RSS {f['peak_rss_mib']} MiB; "
            f"ingest: {json.dumps(runs[size]['ingest'])}"
        )
    print(
        f"  fhir_export rate: {checks['fhir_export rate']}, memory: "
        f"{checks['fhir_export memory']}; ingest ≥ {INGEST_PER_S:.0f}/s: {checks['vitals ingest']}"
    )


def main() -> int:
    runs = {size: bench_size(size) for size in SIZES}
    checks = report(runs)
    print_table(runs, checks)
    when = datetime.now(UTC).isoformat(timespec="seconds")
    out = ROOT / "bench" / "results" / f"bench-{when[:19].replace(':', '')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    machine = {
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "python": sys.version.split()[0],
        "web_concurrency": WORKERS,
    }
    document = {
        "when": when,
        "machine": machine,
        "requests_per_measure": N,
        "peer_gnu_health_10k": PEER,
        "budgets": checks,
        "runs": {label(size): run for size, run in runs.items()},
    }
    out.write_text(json.dumps(document, indent=2, default=str) + "\n")
    print(f"\nwritten to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
