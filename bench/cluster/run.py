"""The cluster under load and faults (issue 20 section 2). Never part of `make test`.

    make cluster                      # the loopback layout (deploy/cluster/up.sh)
    .venv/bin/python -m bench.cluster.run
    make cluster-stop

Against the cluster's database (var/cluster/cluster.env) it
1. seeds it once with `seed_scale --patients BENCH_CLUSTER_PATIENTS` (default 100,000) when it
   holds fewer patients than that;
2. makes its own data through the services (`bench.cluster.prepare`): staff with TOTP, 208
   infusions in progress (8 at scale0, 200 elsewhere), a course and two open check-ins per bench
   patient with the patient's API token, an administrator for the analytics page;
3. drives a clinic day's mix for BENCH_CLUSTER_SECONDS (default 60) per phase, while
   `manage.py fhir_export --location scale0` runs beside it:
   - every infusing session posts a vitals set every BENCH_CLUSTER_VITALS_EVERY s (default 180,
     the monitor's 3 minutes; the sessions' start times are spread over the period);
   - BENCH_CLUSTER_CLIENTS (default 8) staff and patient clients in a closed loop, each request
     picked by weight: chart read 35, family-name search 20, booking 10 (availability, then the
     booking), check-in 10 (the patient's answers), FHIR bundle 10, analytics page 5 (an
     administrator's session: read on the replica inside `lag_tolerant_reads()`), day board 10;
   the phases: **1 node** (the clients talk to node 1 directly), **2 nodes** (through nginx);
4. runs 50 concurrent bookings of one chair's slot, half sent to each node;
5. runs the **fault** phase through nginx: kill -9 of web node 1 (its master and workers) at
   10 s, kill -9 of task worker 1 at 20 s, a restart of the replica (`pg_ctl restart -m fast`)
   at 30 s;
6. checks afterwards: every acknowledged write (each 201's id, per table) is in the primary; the
   5xx and connection errors per phase and how many fell within 2 s of the node's kill; the
   task queue (RUNNING left by the killed worker; READY drained); `verify_audit` on the chain.

Results: bench/results/cluster-<time>.json and a table on stdout. Restart the killed node and
worker with `make cluster-stop && make cluster`.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import signal
import subprocess  # noqa: S404
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.ingest import _reading  # noqa: E402
from bench.run import PREFIXES as SEARCH_PREFIXES  # noqa: E402 - seed_scale's family names
from bench.run import Client, summary  # noqa: E402
from bench.run import _manage as manage  # noqa: E402

BIN = ROOT / ".venv" / "bin"
STATE = Path(os.environ.get("CLUSTER_STATE", ROOT / "var" / "cluster"))
RUN = STATE / "run"
PATIENTS = int(os.environ.get("BENCH_CLUSTER_PATIENTS", "100000"))
SECONDS = float(os.environ.get("BENCH_CLUSTER_SECONDS", "60"))
VITALS_EVERY = float(os.environ.get("BENCH_CLUSTER_VITALS_EVERY", "180"))
CLIENTS = int(os.environ.get("BENCH_CLUSTER_CLIENTS", "8"))
NODE_PORTS = [int(p) for p in os.environ.get("CLUSTER_WEB_PORTS", "8101 8102").split()]
LB_PORT = int(os.environ.get("CLUSTER_LB_PORT", "8100"))
DOUBLE_BOOKINGS = 50
WEIGHTS = {
    "chart": 35,
    "search": 20,
    "booking": 10,
    "checkin": 10,
    "fhir_bundle": 10,
    "analytics": 5,
    "day_board": 10,
}
# Which table an acknowledged write's id lives in.
TABLES = {
    "vitals": "infusions_vitalsign",
    "booking": "scheduling_appointment",
    "checkin": "outcomes_assessment",
}


# --- The cluster's environment --------------------------------------------------------------------


def cluster_env() -> dict[str, str]:
    env_file = STATE / "cluster.env"
    if not env_file.exists():
        raise SystemExit("No var/cluster/cluster.env: start the cluster first (make cluster).")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    for line in env_file.read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            # up.sh quotes a value holding spaces ('...') for the shell that sources the file.
            if len(value) > 1 and value[0] == value[-1] == "'":
                value = value[1:-1]
            env[key] = value
    env.setdefault("LOG_LEVEL", "WARNING")
    return env


def primary(env: dict[str, str]) -> psycopg.Connection:
    return psycopg.connect(env["DATABASE_URL"], autocommit=True)


def patient_count(env: dict[str, str]) -> int:
    with primary(env) as conn:
        return conn.execute("SELECT count(*) FROM patients_patient").fetchone()[0]


def seed(env: dict[str, str]) -> dict[str, Any]:
    have = patient_count(env)
    if have >= PATIENTS:
        return {"patients": have, "seeded_now": False}
    if have:
        raise SystemExit(
            f"The cluster database holds {have} patients, fewer than {PATIENTS}: seed_scale needs "
            "an empty one (make cluster-stop; dropdb ic_cluster; make cluster)."
        )
    started = time.perf_counter()
    manage(env, "seed_scale", "--patients", str(PATIENTS))
    return {
        "patients": patient_count(env),
        "seeded_now": True,
        "seed_seconds": round(time.perf_counter() - started, 1),
    }


def prepare(env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(  # noqa: S603
        [str(BIN / "python"), "-m", "bench.cluster.prepare"],
        cwd=ROOT,
        env={**env, "BENCH_LOCATION": "scale0", "BENCH_INGEST_SESSIONS": "200"},
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- The load -----------------------------------------------------------------------------------


class Log:
    """Every request of a phase: operation, start (s since the phase began), seconds, status and,
    for an acknowledged write, the id it returned."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rows: list[tuple[str, float, float, int, int | None]] = []
        self.errors: list[tuple[str, float, str]] = []

    def add(self, op: str, at: float, seconds: float, status: int, new_id: int | None) -> None:
        with self.lock:
            self.rows.append((op, at, seconds, status, new_id))

    def error(self, op: str, at: float, what: str) -> None:
        with self.lock:
            self.errors.append((op, at, what))


class Phase:
    def __init__(self, setup: dict[str, Any], port: int, seconds: float, log: Log) -> None:
        self.setup = setup
        self.port = port
        self.seconds = seconds
        self.log = log
        self.t0 = 0.0
        self.checkins = [(p["token"], cid) for p in setup["patients"] for cid in p["checkins"]]
        self.checkins_lock = threading.Lock()

    def now(self) -> float:
        return time.perf_counter() - self.t0

    def call(
        self, client: Client, op: str, method: str, path: str, body: Any = None, **kw: Any
    ) -> tuple[int, Any]:
        at = self.now()
        try:
            status, payload, seconds = client.call(method, path, body, **kw)
        except (OSError, http.client.HTTPException) as exc:
            self.log.error(op, at, repr(exc))
            client.conn.close()
            return 0, None
        data = None
        if payload[:1] in (b"{", b"["):
            data = json.loads(payload)
        new_id = None
        if status == 201 and isinstance(data, dict):
            new_id = data.get("assessment_id") if op == "checkin" else data.get("id")
        self.log.add(op, at, seconds, status, new_id)
        return status, data

    # One request of each kind.

    def chart(self, c: dict[str, Client], rng: random.Random) -> None:
        pid = rng.choice(self.setup["chart_patient_ids"])
        self.call(c["desk"], "chart", "GET", f"/api/v1/patients/{pid}/chart")

    def search(self, c: dict[str, Client], rng: random.Random) -> None:
        q = rng.choice(SEARCH_PREFIXES)
        self.call(c["desk"], "search", "GET", f"/api/v1/patients?q={q}&limit=20")

    def fhir_bundle(self, c: dict[str, Client], rng: random.Random) -> None:
        pid = rng.choice(self.setup["chart_patient_ids"])
        self.call(c["prescriber"], "fhir_bundle", "GET", f"/api/v1/patients/{pid}/fhir")

    def day_board(self, c: dict[str, Client], rng: random.Random) -> None:
        self.call(c["nurse_web"], "day_board", "GET", "/infusions/board/scale0/")

    def analytics(self, c: dict[str, Client], rng: random.Random) -> None:
        self.call(c["admin_web"], "analytics", "GET", "/analytics/")

    def booking(self, c: dict[str, Client], rng: random.Random) -> None:
        who = rng.choice(self.setup["bookable"])
        day = datetime.now(UTC).date() + timedelta(days=rng.randint(7, 35))
        status, slots = self.call(
            c["desk"],
            "availability",
            "GET",
            f"/api/v1/availability?location={who['location']}&date={day}&type=infusion",
        )
        if status != 200 or not slots:
            return
        slot = rng.choice(slots)
        chairs = self.setup["chairs"][who["location"]]
        body = {
            "patient_id": who["patient_id"],
            "location": who["location"],
            "type": "infusion",
            "starts_at": slot["starts_at"],
        }
        if slot.get("chair") in chairs:
            body["chair_id"] = chairs[slot["chair"]]
        self.call(c["desk"], "booking", "POST", "/api/v1/appointments", body)

    def checkin(self, c: dict[str, Client], rng: random.Random) -> None:
        with self.checkins_lock:
            if not self.checkins:
                return
            token, checkin_id = self.checkins.pop(rng.randrange(len(self.checkins)))
        patient = Client(self.port, token)
        # PHQ-9 or GAD-7 answers with the last item 0 (no SCALE-4 alert): the server knows
        # which instrument the check-in is and refuses a wrong length, so ask for it first.
        status, due = self.call(patient, "checkins_due", "GET", "/api/v1/checkins/due")
        mine = [d for d in (due or []) if d.get("id") == checkin_id]
        if status != 200 or not mine:
            return
        items = len(mine[0]["items"])
        answers = [rng.randint(0, 2) for _ in range(items - 1)] + [0]
        self.call(
            patient,
            "checkin",
            "POST",
            f"/api/v1/checkins/{checkin_id}/answers",
            {"answers": answers},
        )
        patient.conn.close()

    # The drivers.

    def staff_loop(self, i: int, c: dict[str, Client], stop: threading.Event) -> None:
        rng = random.Random(i)  # noqa: S311 - benchmark inputs
        ops = list(WEIGHTS)
        weights = [WEIGHTS[o] for o in ops]
        while not stop.is_set():
            getattr(self, rng.choices(ops, weights)[0])(c, rng)

    def vitals_loop(self, sessions: list[int], token: str, stop: threading.Event) -> None:
        """Each session posts once every VITALS_EVERY seconds, the sessions' offsets spread
        evenly over the period (a monitor's schedule, open loop)."""
        client = Client(self.port, token)
        rng = random.Random(len(sessions))  # noqa: S311
        gap = VITALS_EVERY / max(len(sessions), 1)
        due = [(k * gap, sid) for k, sid in enumerate(sessions)]
        k = 0
        while not stop.is_set():
            at, sid = due[k % len(due)]
            at += (k // len(due)) * VITALS_EVERY
            wait = at - self.now()
            if wait > 0 and stop.wait(wait):
                break
            self.call(
                client,
                "vitals",
                "POST",
                f"/api/v1/sessions/{sid}/vitals",
                _reading(rng),
                headers={"Idempotency-Key": str(uuid.uuid4())},
            )
            k += 1

    def run(self, faults: list[tuple[float, str, Any]] | None = None) -> dict[str, Any]:
        tokens = self.setup["tokens"]
        stop = threading.Event()
        threads = []
        for i in range(CLIENTS):
            clients = {
                "desk": Client(self.port, tokens["desk"]),
                "prescriber": Client(self.port, tokens["prescriber"]),
                "nurse_web": self.setup["_web"]["nurse"](self.port),
                "admin_web": self.setup["_web"]["admin"](self.port),
            }
            threads.append(threading.Thread(target=self.staff_loop, args=(i, clients, stop)))
        sessions = self.setup["ingest_session_ids"]
        # Four monitor threads (a gateway's connections), each with a quarter of the sessions.
        for q in range(4):
            threads.append(
                threading.Thread(
                    target=self.vitals_loop, args=(sessions[q::4], tokens["nurse"], stop)
                )
            )
        done_faults: list[dict[str, Any]] = []
        self.t0 = time.perf_counter()
        for t in threads:
            t.start()
        for at, name, action in sorted(faults or [], key=lambda f: f[0]):
            if stop.wait(max(0.0, at - self.now())):
                break
            started = self.now()
            detail = action()
            done_faults.append({"at_s": round(started, 2), "fault": name, "detail": detail})
        stop.wait(max(0.0, self.seconds - self.now()))
        stop.set()
        for t in threads:
            t.join(timeout=120)
        return {"wall_s": round(self.now(), 1), "faults": done_faults}


# --- Logged-in pages (staff log in with password and TOTP, as run.py does) ----------------------


def web_client_factory(email: str, password: str, device: dict[str, Any]):
    """One log-in, its session cookie used on every port: sessions are database rows, so every
    node knows them. The log-in goes to node 2 directly (it survives the fault phase): run.py's
    client sends the TLS proxy's `X-Forwarded-Proto: https` and an https Origin, and the loopback
    nginx, plain HTTP, forwards its own scheme instead, which the CSRF check rightly refuses."""
    cookies: dict[str, str] = {}
    lock = threading.Lock()

    def make(port: int) -> Client:
        with lock:
            if not cookies:
                first = Client(NODE_PORTS[-1])
                first.login(email, password, device)
                cookies.update(first.cookies)
        client = Client(port)
        client.cookies = dict(cookies)
        return client

    return make


# --- Faults ------------------------------------------------------------------------------------


def _pid(name: str) -> int:
    return int((RUN / f"{name}.pid").read_text().strip())


def _children(pid: int) -> list[int]:
    kids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(proc.name))
            except (OSError, IndexError, ValueError):
                continue
    return kids


def kill_web_node(n: int) -> dict[str, Any]:
    master = _pid(f"web{n}")
    victims = [master, *_children(master)]
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    return {"node": n, "port": NODE_PORTS[n - 1], "killed_pids": victims}


def kill_worker(n: int) -> dict[str, Any]:
    pid = _pid(f"worker{n}")
    os.kill(pid, signal.SIGKILL)
    return {"worker": n, "killed_pid": pid}


def restart_replica() -> dict[str, Any]:
    pg_bindir = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
    cmd = [str(pg_bindir / "pg_ctl"), "-D", str(STATE / "replica"), "-m", "fast", "-w", "restart"]
    if os.getuid() == 0:
        cmd = ["runuser", "-u", os.environ.get("PG_OS_USER", "postgres"), "--", *cmd]
    started = time.perf_counter()
    # No pipes: the restarted postmaster inherits them and would hold them open for ever.
    subprocess.run(  # noqa: S603
        cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120
    )
    pid = (STATE / "replica" / "postmaster.pid").read_text().split()[0]
    (RUN / "replica.pid").write_text(pid + "\n")
    return {"restart_seconds": round(time.perf_counter() - started, 2)}


# --- Double booking -----------------------------------------------------------------------------


def double_booking(setup: dict[str, Any]) -> dict[str, Any]:
    """50 different patients booking one chair at one time, all at once, half on each node."""
    by_location: dict[str, list[int]] = defaultdict(list)
    for b in setup["bookable"]:
        by_location[b["location"]].append(b["patient_id"])
    location, patients = max(by_location.items(), key=lambda kv: len(kv[1]))
    patients = (patients * DOUBLE_BOOKINGS)[:DOUBLE_BOOKINGS]
    desk = Client(NODE_PORTS[0], setup["tokens"]["desk"])
    # The mix books 7-35 days ahead; this looks from 2 days on for a slot still free.
    for ahead in range(2, 36):
        day = datetime.now(UTC).date() + timedelta(days=ahead)
        status, body, _ = desk.call(
            "GET", f"/api/v1/availability?location={location}&date={day}&type=infusion"
        )
        slots = json.loads(body) if status == 200 else []
        if slots:
            break
    else:
        raise RuntimeError(f"no free infusion slot at {location} in 2-35 days")
    slot = slots[0]
    chair_id = setup["chairs"][location][slot["chair"]]
    barrier = threading.Barrier(DOUBLE_BOOKINGS)
    results: list[tuple[int, int, str]] = []
    lock = threading.Lock()

    def book(i: int) -> None:
        port = NODE_PORTS[i % len(NODE_PORTS)]
        client = Client(port, setup["tokens"]["desk"])
        client.call("GET", "/api/v1/health")  # connected before the barrier
        barrier.wait()
        status, payload, _ = client.call(
            "POST",
            "/api/v1/appointments",
            {
                "patient_id": patients[i],
                "location": location,
                "type": "infusion",
                "starts_at": slot["starts_at"],
                "chair_id": chair_id,
            },
        )
        with lock:
            results.append((port, status, payload[:200].decode(errors="replace")))

    threads = [threading.Thread(target=book, args=(i,)) for i in range(DOUBLE_BOOKINGS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    by_status: dict[str, int] = defaultdict(int)
    for _, status, _ in results:
        by_status[str(status)] += 1
    booked_on = [port for port, status, _ in results if status == 201]
    refusal = next((text for _, status, text in results if status != 201), "")
    return {
        "location": location,
        "slot": slot,
        "chair_id": chair_id,
        "requests": len(results),
        "by_status": dict(by_status),
        "booked_on_port": booked_on,
        "a_refusal": refusal,
    }


# --- Checks -------------------------------------------------------------------------------------


def acknowledged_writes(env: dict[str, str], logs: dict[str, Log]) -> dict[str, Any]:
    """Every 201 the driver saw, looked up by id in the primary."""
    wanted: dict[str, set[int]] = defaultdict(set)
    for log in logs.values():
        for op, _, _, status, new_id in log.rows:
            if status == 201 and op in TABLES and new_id is not None:
                wanted[op].add(new_id)
    out = {}
    with primary(env) as conn:
        for op, ids in wanted.items():
            found = conn.execute(
                f"SELECT count(*) FROM {TABLES[op]} WHERE id = ANY(%s)",  # noqa: S608
                (sorted(ids),),
            ).fetchone()[0]
            out[op] = {"acknowledged": len(ids), "found": found, "lost": len(ids) - found}
    return out


def task_queue(env: dict[str, str]) -> dict[str, Any]:
    with primary(env) as conn:
        rows = conn.execute(
            "SELECT status, count(*) FROM django_tasks_database_dbtaskresult GROUP BY status"
        ).fetchall()
    return dict(rows)


def per_op(log: Log, wall: float) -> dict[str, Any]:
    by_op: dict[str, list[float]] = defaultdict(list)
    statuses: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for op, _, seconds, status, _ in log.rows:
        statuses[op][str(status)] += 1
        if status < 500:
            by_op[op].append(seconds)
    out = {}
    for op in sorted(set(by_op) | set(statuses)):
        s = summary(by_op[op], wall) if by_op[op] else {}
        out[op] = {
            "requests": sum(statuses[op].values()),
            "per_s": round(len(by_op[op]) / wall, 2),
            "p50_ms": s.get("p50_ms"),
            "p95_ms": s.get("p95_ms"),
            "statuses": dict(statuses[op]),
        }
    return out


def errors_summary(log: Log, kills: list[float]) -> dict[str, Any]:
    five = [(op, at) for op, at, _, status, _ in log.rows if status >= 500]
    conn_errors = [(op, at) for op, at, _ in log.errors]
    near = [e for e in five + conn_errors if any(0 <= e[1] - k <= 2.0 for k in kills)]
    return {
        "http_5xx": len(five),
        "connection_errors": len(conn_errors),
        "within_2s_of_a_node_kill": len(near),
        "first": (log.errors[:3] if log.errors else []) + [r for r in log.rows if r[3] >= 500][:3],
    }


def fhir_export_child(env: dict[str, str]) -> tuple[subprocess.Popen, Path]:
    out = Path(tempfile.mkdtemp(prefix="cluster-fhir-"))
    proc = subprocess.Popen(  # noqa: S603
        [str(BIN / "python"), "manage.py", "fhir_export", "--location", "scale0"]
        + ["--out", str(out)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, out


def run_phase(
    name: str, env: dict[str, str], setup: dict[str, Any], port: int, faults: list | None = None
) -> tuple[Log, dict[str, Any]]:
    print(f"-- phase {name}: port {port}, {SECONDS:.0f} s", flush=True)
    log = Log()
    export, out = fhir_export_child(env)
    try:
        info = Phase(setup, port, SECONDS, log).run(faults)
    finally:
        export.send_signal(signal.SIGKILL)
        export.wait()
        resources = sum(
            sum(1 for line in p.open("rb") if line.endswith(b"\n")) for p in out.glob("*.ndjson")
        )
        shutil.rmtree(out, ignore_errors=True)
    wall = info["wall_s"]
    ok = [r for r in log.rows if r[3] < 500]
    result = {
        "port": port,
        **info,
        "requests": len(log.rows),
        "throughput_per_s": round(len(ok) / wall, 1),
        "fhir_export_resources_written": resources,
        "operations": per_op(log, wall),
        "errors": errors_summary(
            log, [f["at_s"] for f in info["faults"] if f["fault"].startswith("kill web")]
        ),
    }
    return log, result


def print_table(result: dict[str, Any]) -> None:
    phases = result["phases"]
    ops = sorted({op for p in phases.values() for op in p["operations"]})
    header = f"{'operation':<14}" + "".join(f"{name:>26}" for name in phases)
    print(header)
    print(f"{'':<14}" + "".join(f"{'n   per_s  p50  p95 ms':>26}" for _ in phases))
    for op in ops:
        line = f"{op:<14}"
        for p in phases.values():
            o = p["operations"].get(op)
            if o:
                p50, p95 = o["p50_ms"] or "-", o["p95_ms"] or "-"
                line += f"{o['requests']:>8} {o['per_s']:>6} {p50:>5} {p95:>5}"
            else:
                line += f"{'-':>26}"
        print(line)
    print("throughput/s " + "".join(f"{p['throughput_per_s']:>26}" for p in phases.values()))
    print(json.dumps({k: v for k, v in result.items() if k not in {"phases", "setup"}}, indent=1))


def main() -> int:
    env = cluster_env()
    for port in [*NODE_PORTS, LB_PORT]:
        status, _, _ = Client(port).call("GET", "/api/v1/health")
        if status != 200:
            raise SystemExit(f"port {port} answers {status}: is the cluster up (make cluster)?")
    result: dict[str, Any] = {"started": datetime.now(UTC).isoformat(timespec="seconds")}
    print("seed", flush=True)
    result["seed"] = seed(env)
    print("prepare", flush=True)
    started = time.perf_counter()
    setup = prepare(env)
    result["prepare_seconds"] = round(time.perf_counter() - started, 1)
    from bench.dataset import BENCH_PASSWORD

    nurse, admin = setup["emails"]["nurse"], setup["admin"]["email"]
    setup["_web"] = {
        "nurse": web_client_factory(nurse, BENCH_PASSWORD, setup["totp"]["nurse"]),
        "admin": web_client_factory(admin, BENCH_PASSWORD, setup["admin"]["totp"]),
    }
    result["settings"] = {
        "patients": result["seed"]["patients"],
        "seconds_per_phase": SECONDS,
        "clients": CLIENTS,
        "infusing_sessions": len(setup["ingest_session_ids"]),
        "vitals_every_s": VITALS_EVERY,
        "weights": WEIGHTS,
        "cpu_count": os.cpu_count(),
    }
    logs: dict[str, Log] = {}
    phases: dict[str, Any] = {}
    logs["1 node"], phases["1 node"] = run_phase("1 node", env, setup, NODE_PORTS[0])
    logs["2 nodes"], phases["2 nodes"] = run_phase("2 nodes", env, setup, LB_PORT)
    print("-- 50 concurrent bookings of one slot", flush=True)
    try:
        result["double_booking"] = double_booking(setup)
    except (RuntimeError, KeyError) as exc:  # reported, and the fault phase still runs
        result["double_booking"] = {"error": repr(exc)}
    faults = [
        (10.0, "kill web node 1", lambda: kill_web_node(1)),
        (20.0, "kill worker 1", lambda: kill_worker(1)),
        (30.0, "restart replica", restart_replica),
    ]
    logs["faults"], phases["faults"] = run_phase("faults", env, setup, LB_PORT, faults)
    result["phases"] = phases
    print("-- checks", flush=True)
    result["acknowledged_writes"] = acknowledged_writes(env, logs)
    result["task_queue_after"] = task_queue(env)
    started = time.perf_counter()
    # A broken chain is a result to record, not a reason to lose the run's figures.
    verify = subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [str(BIN / "python"), "manage.py", "verify_audit", "--no-seal"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    said = (verify.stdout + verify.stderr).strip().splitlines()
    result["verify_audit"] = said[-1] if said else f"exit {verify.returncode}"
    result["verify_audit_ok"] = verify.returncode == 0
    result["verify_audit_seconds"] = round(time.perf_counter() - started, 1)
    out = ROOT / "bench" / "results" / f"cluster-{datetime.now(UTC):%Y-%m-%dT%H%M%S}.json"
    out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print_table(result)
    print(f"verify_audit: {result['verify_audit']}")
    print(f"written {out.relative_to(ROOT)}")
    return 0 if verify.returncode == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
