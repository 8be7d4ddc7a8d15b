from django.core.management.base import BaseCommand, CommandError

from infusionclinic.audit.services import audit_chain_verify


class Command(BaseCommand):
    help = (
        "Seal pending audit events, then verify the log's keyed hash chain and the signed "
        "checkpoints in AUDIT_CHECKPOINT_DIR; exits non-zero and names the first bad event (or "
        "a removed tail, a bad checkpoint, events left unsealed too long)."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument(
            "--no-seal",
            action="store_true",
            help="Verify only what is sealed already; do not seal pending events first.",
        )

    def handle(self, *args: object, **options: object) -> None:
        checked, problem = audit_chain_verify(seal_first=not options["no_seal"])
        if problem is not None:
            if problem.seq:
                where = f"event #{problem.seq}"
            else:
                where = "an unsealed event" if problem.event_id else "the log"
            if problem.event_id:
                where += f" (id {problem.event_id})"
            raise CommandError(
                f"Audit chain broken at {where}: {problem.reason}. "
                f"{checked} events before it verified."
            )
        self.stdout.write(f"Audit chain intact: {checked} events verified.")
