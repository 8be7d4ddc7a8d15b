"""`manage.py backup` / `restore` (issue 11, backups): a round trip brings back exactly the
backed-up state, and a damaged, cut or wrongly keyed file is refused with the live database
untouched."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from infusionclinic.accounts.models import Location
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_chain_verify, audit_record
from infusionclinic.ops.backup import backup_create
from infusionclinic.ops.crypto import CHUNK_SIZE, HEADER_SIZE, TAG_SIZE, new_key

from .conftest import MANAGE, Site, sqlite_add_location

SQLITE = {"ENGINE": "django.db.backends.sqlite3"}


def _codes(site: Site) -> set[str]:
    return {code for (code,) in site.query("SELECT code FROM accounts_location")}


def test_sqlite_round_trip_drops_later_writes_and_passes_integrity_and_audit_checks(
    site: Site, backup_key: str, tmp_path: Path
) -> None:
    archive = tmp_path / "nightly.icbackup"
    # The site's set-up made a backup already; its audit event (an export) is in this backup, so
    # the restored chain has history to verify.
    made = site.manage("backup", "--out", str(archive), BACKUP_KEY=backup_key)
    assert "Backup written" in made.stdout
    assert (archive.stat().st_mode & 0o777) == 0o600
    assert b"SQLite format 3" not in archive.read_bytes()  # encrypted, not a plain copy
    sqlite_add_location(site.db_path, "south")
    assert _codes(site) == {"north", "south"}

    restored = site.manage("restore", str(archive), "--yes", BACKUP_KEY=backup_key)

    assert "Restored" in restored.stdout
    assert _codes(site) == {"north"}  # written after the backup: gone
    assert site.query("PRAGMA integrity_check") == [("ok",)]
    events = site.query("SELECT action, detail FROM audit_auditevent ORDER BY seq")
    # set-up: the user's grant, a backup and the API token's grant (issue 22: issuing a token
    # is audited); then the restore
    assert [action for action, _ in events] == ["grant", "export", "grant", "update"]
    verified = site.manage("verify_audit")
    assert "4 events verified" in verified.stdout


def _cut_at_chunk_boundary(raw: bytes) -> bytes:
    # Whole chunks only: every remaining chunk authenticates; only the missing end betrays it.
    assert len(raw) > HEADER_SIZE + CHUNK_SIZE + TAG_SIZE
    return raw[: HEADER_SIZE + CHUNK_SIZE + TAG_SIZE]


def _flip_one_byte(raw: bytes) -> bytes:
    tampered = bytearray(raw)
    tampered[len(raw) // 2] ^= 0x40
    return bytes(tampered)


@pytest.mark.parametrize(
    ("damage", "env_key", "message"),
    [
        (_flip_one_byte, "right", "fails authentication"),
        (_cut_at_chunk_boundary, "right", "truncated"),
        (lambda raw: raw, "other", "BACKUP_KEY does not open this backup"),
        (lambda raw: raw, "missing", "BACKUP_KEY is not set"),
    ],
    ids=["tampered-byte", "truncated", "wrong-key", "missing-key"],
)
def test_restore_refuses_a_bad_file_or_key_and_leaves_the_live_database_untouched(
    site: Site, backup_key: str, tmp_path: Path, damage, env_key: str, message: str
) -> None:
    archive = tmp_path / "b.icbackup"
    backup_create(out=archive, key=_raw(backup_key), database={**SQLITE, "NAME": site.db_path})
    archive.write_bytes(damage(archive.read_bytes()))
    sqlite_add_location(site.db_path, "south")
    live_before = site.db_path.read_bytes()
    key = {"right": backup_key, "other": new_key(), "missing": ""}[env_key]

    refused = site.manage("restore", str(archive), "--yes", check=False, BACKUP_KEY=key)

    assert refused.returncode != 0
    assert "Nothing restored" in refused.stderr
    assert message in refused.stderr
    assert site.db_path.read_bytes() == live_before
    assert _codes(site) == {"north", "south"}
    assert not list(site.db_path.parent.glob("ic-backup-*"))  # no plaintext left behind


def test_restore_without_yes_asks_and_a_script_gets_a_clear_refusal(
    site: Site, backup_key: str, tmp_path: Path
) -> None:
    archive = tmp_path / "b.icbackup"
    backup_create(out=archive, key=_raw(backup_key), database={**SQLITE, "NAME": site.db_path})
    refused = site.manage("restore", str(archive), check=False, BACKUP_KEY=backup_key)
    assert refused.returncode != 0
    assert "Pass --yes" in refused.stderr


def _raw(key: str) -> bytes:
    from infusionclinic.ops.crypto import key_from_env

    return key_from_env({"BACKUP_KEY": key})


# --- PostgreSQL ---------------------------------------------------------------------------------
# pg_restore --clean cannot run against the test database itself while pytest-django holds it, so
# the round trip dumps the test database and restores into a scratch database it creates and drops.


def _pg_admin(database: dict[str, object]) -> psycopg.Connection:
    return psycopg.connect(
        host=database.get("HOST") or None,
        port=database.get("PORT") or None,
        user=database.get("USER") or None,
        password=database.get("PASSWORD") or None,
        dbname="postgres",
        autocommit=True,
    )


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only")
@pytest.mark.django_db(transaction=True)
def test_postgresql_round_trip_into_a_scratch_database(tmp_path: Path) -> None:
    from tests.factories import LocationFactory

    key = os.urandom(32)
    live = settings.DATABASES["default"]
    scratch = copy.deepcopy(live)
    scratch["NAME"] = f"{live['NAME']}_restore"
    scratch.pop("OPTIONS", None)
    LocationFactory(code="north")
    audit_record(actor=None, action=AuditAction.EXPORT, detail={"operation": "test"})
    state_a = tmp_path / "a.icbackup"
    backup_create(out=state_a, key=key, database=live)
    LocationFactory(code="south")
    audit_record(actor=None, action=AuditAction.EXPORT, detail={"operation": "later"})
    state_b = tmp_path / "b.icbackup"
    backup_create(out=state_b, key=key, database=live)

    from infusionclinic.ops.backup import backup_restore

    with _pg_admin(live) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{scratch["NAME"]}"')
        admin.execute(f'CREATE DATABASE "{scratch["NAME"]}"')
    try:
        backup_restore(source=state_b, key=key, database=scratch)
        # Restoring the older backup over a database holding later data (pg_restore --clean).
        backup_restore(source=state_a, key=key, database=scratch)
        with psycopg.connect(
            host=scratch.get("HOST") or None,
            port=scratch.get("PORT") or None,
            user=scratch.get("USER") or None,
            password=scratch.get("PASSWORD") or None,
            dbname=scratch["NAME"],
        ) as restored:
            codes = {r[0] for r in restored.execute("SELECT code FROM accounts_location")}
            actions = [
                r[0] for r in restored.execute("SELECT detail->>'operation' FROM audit_auditevent")
            ]
            triggers = {
                r[0]
                for r in restored.execute(
                    "SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_auditevent'::regclass"
                )
            }
        assert codes == {"north"}
        assert actions == ["test"]
        assert {"audit_event_append_only", "audit_event_no_truncate"} <= triggers
        verified = _manage_against(scratch, "verify_audit")
        assert "1 events verified" in verified
    finally:
        with _pg_admin(live) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{scratch["NAME"]}" WITH (FORCE)')
    assert set(Location.objects.values_list("code", flat=True)) == {"north", "south"}
    assert audit_chain_verify()[1] is None


def _manage_against(database: dict[str, object], *args: str) -> str:
    import subprocess  # noqa: S404
    import sys

    url = "postgres://{user}{password}@{host}:{port}/{name}".format(
        user=database.get("USER") or "",
        password=f":{database['PASSWORD']}" if database.get("PASSWORD") else "",
        host=database.get("HOST") or "127.0.0.1",
        port=database.get("PORT") or 5432,
        name=database["NAME"],
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, str(MANAGE), *args],
        env={**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings.test"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout
