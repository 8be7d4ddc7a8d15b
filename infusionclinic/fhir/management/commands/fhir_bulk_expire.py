from django.core.management.base import BaseCommand, CommandParser

from infusionclinic.fhir.bulk import bulk_exports_expire, bulk_exports_expire_task


class Command(BaseCommand):
    help = (
        "Remove the NDJSON files of Bulk Data exports finished more than "
        "FHIR_BULK_RETENTION_HOURS ago. Run it from cron (hourly), or --enqueue it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--enqueue", action="store_true", help="queue it for db_worker")

    def handle(self, *args: object, **options: object) -> None:
        if options["enqueue"]:
            bulk_exports_expire_task.enqueue()
            self.stdout.write("Queued.")
            return
        self.stdout.write(f"{bulk_exports_expire()} export(s) expired.")
