from django.core.management.base import BaseCommand, CommandError

from infusionclinic.audit.checkpoints import CheckpointError, audit_checkpoint_write
from infusionclinic.audit.tasks import audit_checkpoint_task


class Command(BaseCommand):
    help = (
        "Write a signed checkpoint of the audit chain's head into AUDIT_CHECKPOINT_DIR (and mail "
        "it to AUDIT_CHECKPOINT_MAIL_TO). Run it periodically (the systemd timer: hourly); "
        "verify_audit checks the chain against every checkpoint."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument(
            "--enqueue",
            action="store_true",
            help="Queue the checkpoint task for the background worker instead of writing here.",
        )

    def handle(self, *args: object, **options: object) -> None:
        if options["enqueue"]:
            audit_checkpoint_task.enqueue()
            return
        try:
            checkpoint = audit_checkpoint_write()
        except CheckpointError as exc:
            raise CommandError(str(exc)) from exc
        if checkpoint is None:
            self.stdout.write("No new audit events since the last checkpoint.")
        else:
            self.stdout.write(f"Checkpoint of #{checkpoint.seq} written: {checkpoint.name}.")
