from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.context import client_context
from infusionclinic.ops.backup import backup_create
from infusionclinic.ops.crypto import BackupError, key_from_env


class Command(BaseCommand):
    help = (
        "Write an encrypted backup of the database to FILE (key: BACKUP_KEY, base64 of 32 bytes). "
        "SQLite: online snapshot; PostgreSQL: pg_dump --format=custom."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", required=True, type=Path, metavar="FILE")

    def handle(self, *args: object, **options: object) -> None:
        out = Path(str(options["out"]))
        try:
            result = backup_create(
                out=out, key=key_from_env(), database=settings.DATABASES["default"]
            )
        except BackupError as exc:
            raise CommandError(f"Backup not written. {exc}") from exc
        # A backup holds every chart: it is an export, and the audit log says so.
        with client_context(client_address="cli:backup", channel="cli"):
            audit_record(
                actor=None,
                action=AuditAction.EXPORT,
                detail={"operation": "backup", "file": out.name, "sha256": result.sha256},
            )
        self.stdout.write(
            f"Backup written: {result.path} ({result.kind}, {result.size_bytes} bytes, "
            f"plaintext SHA-256 {result.sha256})."
        )
