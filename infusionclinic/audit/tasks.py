"""The periodic audit tasks (django-tasks): the sealing safety net behind the seal after each
commit, and the signed checkpoint of the chain head (issue 22, point 4)."""

from django_tasks import task

from .checkpoints import audit_checkpoint_write
from .services import audit_seal


@task()
def audit_seal_task() -> int:
    """Seal every pending audit event; returns how many. Queue it from cron (`manage.py
    audit_seal --enqueue`) or run `manage.py audit_seal` directly."""
    return audit_seal(wait=True)


@task()
def audit_checkpoint_task() -> int:
    """Write a signed checkpoint of the chain head; returns its sequence number (0: nothing new).
    Queue it from cron (`manage.py audit_checkpoint --enqueue`) or run the command directly."""
    checkpoint = audit_checkpoint_write()
    return checkpoint.seq if checkpoint else 0
