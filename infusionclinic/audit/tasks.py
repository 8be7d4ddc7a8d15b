"""The periodic sealing task (django-tasks): the safety net behind the seal after each commit."""

from django_tasks import task

from .services import audit_seal


@task()
def audit_seal_task() -> int:
    """Seal every pending audit event; returns how many. Queue it from cron (`manage.py
    audit_seal --enqueue`) or run `manage.py audit_seal` directly."""
    return audit_seal(wait=True)
