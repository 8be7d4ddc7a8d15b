import time

from django.core.management.base import BaseCommand

from infusionclinic.audit.services import audit_seal
from infusionclinic.audit.tasks import audit_seal_task


class Command(BaseCommand):
    help = (
        "Seal pending audit events into the hash chain. Writers seal after each commit; run this "
        "from cron (every minute) or with --every as a sidecar, so an event whose writer died "
        "between its commit and its seal is sealed anyway."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument(
            "--every", type=float, default=0, help="Keep running, sealing every N seconds."
        )
        parser.add_argument(
            "--enqueue",
            action="store_true",
            help="Queue the sealing task for the background worker instead of sealing here.",
        )

    def handle(self, *args: object, every: float = 0, **options: object) -> None:
        if options["enqueue"]:
            audit_seal_task.enqueue()
            return
        while True:
            sealed = audit_seal(wait=True)
            if options["verbosity"] > 1 or (sealed and not every):  # type: ignore[operator]
                self.stdout.write(f"Sealed {sealed} audit event(s).")
            if not every:
                return
            time.sleep(every)
