import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from infusionclinic.accounts.models import Location
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.context import client_context
from infusionclinic.fhir.resources import resource_types, resources_for, validate
from infusionclinic.patients.models import Patient


class Command(BaseCommand):
    help = (
        "Bulk FHIR export: one NDJSON file per resource type for all patients of a location, "
        "streamed (constant memory)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--location", required=True, metavar="CODE")
        parser.add_argument("--out", required=True, metavar="DIR")
        parser.add_argument(
            "--no-validate",
            action="store_true",
            help="skip fhir.resources validation (faster for huge exports)",
        )

    def handle(self, *args: object, **options: object) -> None:
        location = Location.objects.filter(code=options["location"]).first()
        if location is None:
            raise CommandError(f"No location with code {options['location']}.")
        out = Path(str(options["out"]))
        out.mkdir(parents=True, exist_ok=True)
        patients = Patient.objects.filter(home_location=location)
        counts: dict[str, int] = {}
        for resource_type in resource_types():
            path = out / f"{resource_type}.ndjson"
            n = 0
            with path.open("w", encoding="utf-8") as fh:
                for resource in resources_for(patients, resource_type=resource_type):
                    if not options["no_validate"]:
                        validate(resource)
                    fh.write(json.dumps(resource, separators=(",", ":")) + "\n")
                    n += 1
            counts[resource_type] = n
        with client_context(client_address="cli:fhir_export", channel="cli"):
            audit_record(
                actor=None,
                action=AuditAction.EXPORT,
                detail={"fhir_bulk": location.code, "counts": counts, "out": str(out)},
            )
        for resource_type, n in counts.items():
            self.stdout.write(f"{resource_type}: {n} -> {out / (resource_type + '.ndjson')}")
