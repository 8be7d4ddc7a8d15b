"""Crash safety (issue 11): SQLite in WAL mode with synchronous=FULL keeps every acknowledged write.
The real server (gunicorn, two worker processes with threads) takes a burst of concurrent
`POST /api/v1/patients`, is killed with SIGKILL in the middle of it, and is started again: every
write that was answered 201 is there, by id and MRN; the database passes PRAGMA integrity_check and
the audit chain verifies. Loopback only."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess  # noqa: S404
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from .conftest import LOCATION_CODE, Site

WRITERS = 8
KILL_AFTER_ACKNOWLEDGED = 25  # writes answered 201 before the kill: the burst is well under way


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def _server(site: Site, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--graceful-timeout",
                "1",
            ],
            cwd=settings.BASE_DIR,
            env=site.env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: SIGKILL reaches master and workers
        )
    try:
        _wait_until_up(port, process, log)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _wait_until_up(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(  # noqa: S310 - loopback http
                f"http://127.0.0.1:{port}/api/v1/openapi.json", timeout=2
            ):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"server did not start:\n{log.read_text()}")


def _request(port: int, token: str, method: str, path: str, body: object = None) -> tuple:
    request = urllib.request.Request(  # noqa: S310 - loopback http
        f"http://127.0.0.1:{port}/api/v1{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, None


def test_sigkill_during_a_burst_of_writes_loses_no_acknowledged_write(
    site: Site, tmp_path: Path
) -> None:
    port = _free_port()
    log = tmp_path / "server.log"
    acknowledged: dict[int, tuple[str, str]] = {}  # id -> (mrn, given name)
    lock = threading.Lock()
    killed = threading.Event()
    enough = threading.Event()
    cut_off: list[str] = []  # requests the kill interrupted or refused

    def writer(n: int) -> None:
        i = 0
        while not killed.is_set():
            i += 1
            name = f"Crash{n}x{i}"
            body = {
                "given_name": name,
                "family_name": "Burst",
                "birth_date": "1980-01-02",
                "sex_at_birth": "female",
                "location": LOCATION_CODE,
                "weight_kg": 70,
            }
            try:
                status, answer = _request(port, site.token, "POST", "/patients", body)
            except OSError:
                if killed.is_set() or enough.is_set():
                    with lock:
                        cut_off.append(name)
                continue  # refused or cut off by the kill: not acknowledged
            if status == 201:
                with lock:
                    acknowledged[answer["id"]] = (answer["mrn"], name)
                    if len(acknowledged) >= KILL_AFTER_ACKNOWLEDGED:
                        enough.set()

    with _server(site, port, log) as server, ThreadPoolExecutor(WRITERS) as pool:
        for n in range(WRITERS):
            pool.submit(writer, n)
        assert enough.wait(timeout=30), log.read_text()
        os.killpg(server.pid, signal.SIGKILL)  # mid-burst: writers are still sending
        killed.set()
    with lock:
        snapshot = dict(acknowledged)
    assert len(snapshot) >= KILL_AFTER_ACKNOWLEDGED
    assert cut_off, "no request was in flight when the server died"
    # The acknowledged writes were still in the write-ahead log, not yet copied into the main
    # file, when the processes died: the restart's WAL recovery is what keeps them.
    wal = site.db_path.with_name(site.db_path.name + "-wal")
    assert wal.exists()
    assert wal.stat().st_size > 0

    with _server(site, port, log):
        for patient_id, (mrn, name) in snapshot.items():
            status, chart = _request(port, site.token, "GET", f"/patients/{patient_id}")
            assert status == 200, (patient_id, status)
            assert (chart["mrn"], chart["given_name"]) == (mrn, name)

    assert site.query("PRAGMA integrity_check") == [("ok",)]
    stored = dict(site.query("SELECT id, mrn FROM patients_patient"))
    assert all(stored[pid] == mrn for pid, (mrn, _) in snapshot.items())
    assert "events verified" in site.manage("verify_audit").stdout
