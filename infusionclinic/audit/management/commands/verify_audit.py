from django.core.management.base import BaseCommand, CommandError

from infusionclinic.audit.services import audit_chain_verify


class Command(BaseCommand):
    help = "Verify the audit log's hash chain; exits non-zero and names the first bad event."

    def handle(self, *args: object, **options: object) -> None:
        checked, problem = audit_chain_verify()
        if problem is not None:
            where = f"event #{problem.seq}" + (
                f" (id {problem.event_id})" if problem.event_id else ""
            )
            raise CommandError(
                f"Audit chain broken at {where}: {problem.reason}. "
                f"{checked} events before it verified."
            )
        self.stdout.write(f"Audit chain intact: {checked} events verified.")
