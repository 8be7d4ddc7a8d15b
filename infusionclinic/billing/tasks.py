"""Periodic billing tasks (django-tasks)."""

from django_tasks import task

from .deposits import deposits_release_expired


@task()
def deposits_release_task() -> int:
    """Issue 19: cancel the bookings whose deposit was not paid within the hold; returns how many.
    The next booking at a location does the same for that location."""
    return deposits_release_expired()
