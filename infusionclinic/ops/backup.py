"""Encrypted backups of the configured database, and restoring one.

SQLite: a consistent snapshot through SQLite's online backup API (readers and writers may carry
on), then encrypted. Restore decrypts to a private temporary file, checks the checksum and
`PRAGMA integrity_check` there, and only then copies it over the live database with the same
backup API, which writes through SQLite's own locking and WAL (no file renamed under an open
connection, no stale -wal file left to corrupt the result).

PostgreSQL: `pg_dump --format=custom` streamed straight into the encryptor (constant memory).
Restore decrypts to a temporary file, checks the checksum and that pg_restore can read the
archive's table of contents, and only then runs `pg_restore --clean --if-exists
--single-transaction`, so a failed restore leaves the database as it was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess  # noqa: S404 - runs pg_dump/pg_restore with an argument list, no shell
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import connections

from . import crypto
from .crypto import BackupError


@dataclass(frozen=True)
class BackupResult:
    path: Path
    kind: str
    sha256: str
    size_bytes: int


def database_kind(database: dict[str, Any]) -> bytes:
    engine = database["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        return crypto.KIND_SQLITE
    if engine == "django.db.backends.postgresql":
        return crypto.KIND_POSTGRESQL
    raise BackupError(f"Backups support SQLite and PostgreSQL, not {engine}.")


@contextlib.contextmanager
def _private_tempdir(near: Path | None = None) -> Iterator[Path]:
    """A directory only this user can read: plaintext copies of the database live there briefly."""
    with tempfile.TemporaryDirectory(prefix="ic-backup-", dir=near) as name:
        os.chmod(name, 0o700)
        yield Path(name)


@contextlib.contextmanager
def _atomic_output(out: Path) -> Iterator[Any]:
    """Write `out` under a temporary name and move it into place only when complete."""
    partial = out.with_name(out.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _sqlite_path(database: dict[str, Any]) -> Path:
    name = str(database["NAME"])
    if name == ":memory:" or "mode=memory" in name:
        raise BackupError(
            "The configured SQLite database is in memory; there is nothing to back up."
        )
    return Path(name)


def _pg_args(database: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """Connection arguments for pg_dump/pg_restore from settings.DATABASES (password by env)."""
    args = []
    if database.get("HOST"):
        args += ["--host", str(database["HOST"])]
    if database.get("PORT"):
        args += ["--port", str(database["PORT"])]
    if database.get("USER"):
        args += ["--username", str(database["USER"])]
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    if database.get("PASSWORD"):
        env["PGPASSWORD"] = str(database["PASSWORD"])
    # TLS settings from DATABASE_URL (?sslmode=require...) reach libpq through its environment.
    for name in ("sslmode", "sslrootcert", "sslcert", "sslkey"):
        if database.get("OPTIONS", {}).get(name):
            env[f"PG{name.upper()}"] = str(database["OPTIONS"][name])
    return args, env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed (apt-get install postgresql-client).")
    return found


def backup_create(*, out: Path, key: bytes, database: dict[str, Any]) -> BackupResult:
    kind = database_kind(database)
    out = out.resolve()
    if not out.parent.is_dir():
        raise BackupError(f"The folder {out.parent} does not exist.")
    if kind == crypto.KIND_SQLITE:
        digest = _sqlite_backup(_sqlite_path(database), out, key)
    else:
        digest = _pg_backup(database, out, key)
    return BackupResult(out, crypto.KINDS[kind], digest, out.stat().st_size)


def _sqlite_backup(db_path: Path, out: Path, key: bytes) -> str:
    if not db_path.exists():
        raise BackupError(f"The database {db_path} does not exist.")
    with _private_tempdir() as tmp:
        snapshot = tmp / "snapshot.sqlite3"
        source = sqlite3.connect(db_path, timeout=20)
        target = sqlite3.connect(snapshot)
        try:
            source.backup(target)  # one step: a consistent snapshot of committed data
            # A self-contained file: no -wal beside it to forget.
            target.execute("PRAGMA journal_mode=DELETE")
        finally:
            target.close()
            source.close()
        with snapshot.open("rb") as plain, _atomic_output(out) as sealed:
            return crypto.encrypt_stream(plain, sealed, key=key, kind=crypto.KIND_SQLITE)


def _pg_backup(database: dict[str, Any], out: Path, key: bytes) -> str:
    args, env = _pg_args(database)
    command = [_tool("pg_dump"), "--format=custom", *args, "--dbname", str(database["NAME"])]
    with _private_tempdir() as tmp, (tmp / "stderr").open("w+b") as errors:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, env=env)  # noqa: S603
        assert process.stdout is not None  # noqa: S101 - stdout=PIPE
        try:
            with _atomic_output(out) as sealed:
                digest = crypto.encrypt_stream(
                    process.stdout, sealed, key=key, kind=crypto.KIND_POSTGRESQL
                )
                if process.wait() != 0:
                    errors.seek(0)
                    raise BackupError(
                        "pg_dump failed: " + errors.read().decode(errors="replace").strip()
                    )
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    return digest


def backup_restore(*, source: Path, key: bytes, database: dict[str, Any]) -> str:
    """Verify `source` completely, then replace the database with it. Returns the SHA-256."""
    kind = database_kind(database)
    if not source.is_file():
        raise BackupError(f"No backup file at {source}.")
    near = _sqlite_path(database).resolve().parent if kind == crypto.KIND_SQLITE else None
    with _private_tempdir(near) as tmp:
        plain_path = tmp / "restore.plain"
        with source.open("rb") as sealed, plain_path.open("wb") as plain:
            digest = crypto.decrypt_stream(sealed, plain, key=key, expected_kind=kind)
        # From here the file is authentic and complete; the live database is still untouched.
        if kind == crypto.KIND_SQLITE:
            _sqlite_restore(plain_path, _sqlite_path(database))
        else:
            _pg_restore(plain_path, database)
    return digest


def _sqlite_restore(plain_path: Path, db_path: Path) -> None:
    candidate = sqlite3.connect(plain_path)
    try:
        try:
            (result,) = candidate.execute("PRAGMA integrity_check").fetchone()
            has_schema = candidate.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'django_migrations'"
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"The backup does not hold a SQLite database: {exc}.") from exc
        if result != "ok":
            raise BackupError(f"The backup's database fails PRAGMA integrity_check: {result}.")
        if not has_schema:
            raise BackupError("The backup's database is not an Infusion Clinic database.")
        connections.close_all()
        live = sqlite3.connect(db_path, timeout=20)
        try:
            candidate.backup(live)  # all or nothing, under the live database's own write lock
        finally:
            live.close()
    finally:
        candidate.close()


def _pg_restore(plain_path: Path, database: dict[str, Any]) -> None:
    args, env = _pg_args(database)
    pg_restore = _tool("pg_restore")
    listing = subprocess.run(  # noqa: S603
        [pg_restore, "--list", str(plain_path)], capture_output=True, env=env, check=False
    )
    if listing.returncode != 0:
        raise BackupError("The backup is not a pg_dump archive: " + listing.stderr.decode().strip())
    connections.close_all()
    restored = subprocess.run(  # noqa: S603
        [
            pg_restore,
            "--clean",
            "--if-exists",
            "--single-transaction",
            "--exit-on-error",
            *args,
            "--dbname",
            str(database["NAME"]),
            str(plain_path),
        ],
        capture_output=True,
        env=env,
        check=False,
    )
    if restored.returncode != 0:
        raise BackupError(
            "pg_restore failed; the database was left as it was (single transaction): "
            + restored.stderr.decode(errors="replace").strip()
        )
