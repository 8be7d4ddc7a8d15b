"""A real, migrated SQLite database file for the tests that run the application as a separate
process (backups through the CLI, the crash test): built once per session and copied per test."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess  # noqa: S404
import sys
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings

from infusionclinic.ops.crypto import new_key

MANAGE = Path(settings.BASE_DIR) / "manage.py"
FRONT_DESK_EMAIL = "desk@crash.example.org"
LOCATION_CODE = "north"


@dataclass(frozen=True)
class Site:
    """A database file with one location, a front-desk user and that user's API token."""

    db_path: Path
    token: str

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": f"sqlite:///{self.db_path}",
            "AXES_ENABLED": "false",
        }
        env.pop("BACKUP_KEY", None)
        env.update(extra)
        return env

    def manage(
        self, *args: str, check: bool = True, **env: str
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(  # noqa: S603 - our own interpreter and manage.py
            [sys.executable, str(MANAGE), *args],
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
        return result

    def query(self, sql: str) -> list[tuple[object, ...]]:
        # closing(): sqlite3's own context manager commits but leaves the connection open, and
        # its checkpoint at close would then rewrite the file whenever the GC gets to it.
        with closing(sqlite3.connect(self.db_path)) as conn:
            return conn.execute(sql).fetchall()


SETUP_SCRIPT = """
from django.core.management import call_command
call_command("migrate", "--noinput", verbosity=0)
call_command("create_location", "{code}", name="North", timezone="UTC", clinic="C")
call_command("create_user", "{email}", role="front_desk", locations=["{code}"],
             password="Correct-horse-battery-9")
call_command("backup", out="{out}")
call_command("create_api_token", "{email}")
"""


def sqlite_add_location(db_path: Path, code: str) -> None:
    """A write made behind the application's back: a copy of an existing location row."""
    with closing(sqlite3.connect(db_path)) as conn, conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(accounts_location)")]
        copied = [c for c in columns if c not in {"id", "code", "name"}]
        conn.execute(
            f"INSERT INTO accounts_location (code, name, {', '.join(copied)}) "  # noqa: S608
            f"SELECT ?, ?, {', '.join(copied)} FROM accounts_location LIMIT 1",
            (code, f"Location {code}"),
        )


@pytest.fixture(scope="session")
def _site_template(tmp_path_factory: pytest.TempPathFactory) -> Site:
    folder = tmp_path_factory.mktemp("site-template")
    site = Site(folder / "template.sqlite3", token="")
    # One process for the whole set-up (each Django start costs seconds on a loaded machine); the
    # commands are the ones an operator runs. The backup leaves one audit event (an export), so
    # copies of this database have a chain for verify_audit to walk.
    script = SETUP_SCRIPT.format(
        code=LOCATION_CODE, email=FRONT_DESK_EMAIL, out=folder / "setup.icbackup"
    )
    out = site.manage("shell", "-c", script, BACKUP_KEY=new_key()).stdout
    token = out.strip().splitlines()[-1]
    with closing(sqlite3.connect(site.db_path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return Site(site.db_path, token=token)


@pytest.fixture
def site(_site_template: Site, tmp_path: Path) -> Site:
    """A private copy of the template database."""
    db_path = tmp_path / "clinic.sqlite3"
    shutil.copyfile(_site_template.db_path, db_path)
    return Site(db_path, token=_site_template.token)


@pytest.fixture
def backup_key() -> str:
    return new_key()
