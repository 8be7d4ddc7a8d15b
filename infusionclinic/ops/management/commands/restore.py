import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.context import client_context
from infusionclinic.ops.backup import backup_restore
from infusionclinic.ops.crypto import BackupError, key_from_env


class Command(BaseCommand):
    help = (
        "Replace the database with an encrypted backup made by `backup`. The file is decrypted "
        "and its checksum verified before the database is touched. Stop the web server and "
        "worker first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--yes", action="store_true", help="do not ask; replace the database's content"
        )

    def handle(self, *args: object, **options: object) -> None:
        source = Path(str(options["file"]))
        database = settings.DATABASES["default"]
        try:
            key = key_from_env()
        except BackupError as exc:
            raise CommandError(f"Nothing restored. {exc}") from exc
        if not options["yes"]:
            if not sys.stdin.isatty():
                raise CommandError("Nothing restored. Pass --yes to replace the database.")
            answer = input(
                f"Replace everything in database {database['NAME']} with {source}? Type 'yes': "
            )
            if answer.strip().lower() != "yes":
                raise CommandError("Nothing restored.")
        try:
            digest = backup_restore(source=source, key=key, database=database)
        except BackupError as exc:
            raise CommandError(f"Nothing restored; the database is unchanged. {exc}") from exc
        with client_context(client_address="cli:restore", channel="cli"):
            audit_record(
                actor=None,
                action=AuditAction.UPDATE,
                detail={"operation": "restore", "file": source.name, "sha256": digest},
            )
        self.stdout.write(f"Restored {source} (plaintext SHA-256 {digest}).")
