"""`manage.py tasks_stuck` (issue 20 section 1): a task whose worker died mid-task is found, and
put back in the queue only when an operator names it."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

pytestmark = pytest.mark.django_db

DB_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


def _running(minutes_ago: int, worker: str) -> DBTaskResult:
    from infusionclinic.audit.tasks import audit_seal_task

    row = DBTaskResult.objects.get(pk=audit_seal_task.enqueue().id)
    row.claim(worker)
    DBTaskResult.objects.filter(pk=row.pk).update(
        started_at=timezone.now() - timedelta(minutes=minutes_ago)
    )
    return row


def test_a_task_left_running_by_a_dead_worker_is_reported_issue_20_point_1(settings):
    settings.TASKS = DB_TASKS
    old = _running(45, "web1-worker-1")
    _running(5, "web1-worker-2")  # still within TASKS_STUCK_MINUTES: not reported
    out = StringIO()
    with pytest.raises(SystemExit) as exit_:
        call_command("tasks_stuck", stdout=out, stderr=StringIO())
    assert exit_.value.code == 1
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert str(old.pk) in lines[0]
    assert "web1-worker-1" in lines[0]


def test_nothing_stuck_exits_quietly_issue_20_point_1(settings):
    settings.TASKS = DB_TASKS
    _running(5, "w")
    out = StringIO()
    call_command("tasks_stuck", stdout=out)
    assert out.getvalue() == ""


def test_requeue_puts_only_the_named_stuck_task_back_issue_20_point_1(settings):
    settings.TASKS = DB_TASKS
    stuck, other = _running(45, "dead"), _running(60, "dead")
    call_command("tasks_stuck", "--requeue", str(stuck.pk), stdout=StringIO())
    stuck.refresh_from_db()
    other.refresh_from_db()
    assert stuck.status == TaskResultStatus.READY
    assert stuck.started_at is None
    assert DBTaskResult.objects.ready().filter(pk=stuck.pk).exists()  # a worker will take it
    assert other.status == TaskResultStatus.RUNNING


def test_requeue_refuses_a_task_that_is_not_stuck_issue_20_point_1(settings):
    settings.TASKS = DB_TASKS
    recent = _running(5, "alive")
    with pytest.raises(CommandError, match="Not stuck"):
        call_command("tasks_stuck", "--requeue", str(recent.pk))
    recent.refresh_from_db()
    assert recent.status == TaskResultStatus.RUNNING
