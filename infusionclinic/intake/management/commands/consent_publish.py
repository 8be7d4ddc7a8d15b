"""Publish a new version of a consent document from a text file (PROT-C2). Patients must sign
the new version before their next infusion; earlier signatures stay on the version they signed."""

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from infusionclinic.common.context import client_context
from infusionclinic.intake.services import consent_document_publish


class Command(BaseCommand):
    help = "Publish a new version of a consent document (text from a UTF-8 file)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("code", help="e.g. risks, fasting, off-label-use")
        parser.add_argument("--title", required=True)
        parser.add_argument("--body-file", required=True, type=Path)
        parser.add_argument(
            "--optional", action="store_true", help="not required before an infusion"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            body = options["body_file"].read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"Cannot read {options['body_file']}: {exc}") from exc
        with client_context(client_address="cli:consent_publish", channel="cli"):
            try:
                document = consent_document_publish(
                    actor=None,
                    code=options["code"],
                    title=options["title"],
                    body=body,
                    required=not options["optional"],
                )
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"Published {document.code} version {document.version}.")
