"""The task queue on more than one worker (issue 20 section 1), on PostgreSQL.

django-tasks-db's worker claims a task inside a transaction with
`SELECT ... FOR UPDATE SKIP LOCKED` and marks it RUNNING before the transaction commits, so a
second worker skips a row the first has locked and never sees it READY again. What a worker that
dies mid-task leaves behind is pinned by the second test: the task stays RUNNING with that worker's
id and no other worker picks it up (at most once, not at least once), see README "Running several
nodes"."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection
from django_tasks import TaskResultStatus, task
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason=(
            "PostgreSQL only: the concurrent claim under test is SELECT ... FOR UPDATE SKIP "
            "LOCKED; on SQLite django-tasks-db serialises workers with EXCLUSIVE transactions and "
            "one database file serves one machine anyway"
        ),
    ),
    pytest.mark.django_db(transaction=True),
]

DB_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
_runs: Counter[int] = Counter()
_lock = threading.Lock()


@task()
def record_run(n: int) -> int:
    with _lock:
        _runs[n] += 1
    return n


def _worker(worker_id: str) -> Worker:
    return Worker(
        queue_names=["default"],
        interval=0,
        batch=True,  # stop when the queue is empty
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id=worker_id,
        excluded_queue_names=[],
    )


def _run_in_thread(worker: Worker, errors: list[BaseException]) -> threading.Thread:
    def target() -> None:
        try:
            worker.run()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            connection.close()  # each thread has its own connection

    thread = threading.Thread(target=target)
    thread.start()
    return thread


def test_two_workers_never_run_one_task_twice_issue_20_point_1(settings):
    settings.TASKS = DB_TASKS
    _runs.clear()
    tasks = 60
    for n in range(tasks):
        record_run.enqueue(n)
    errors: list[BaseException] = []
    threads = [_run_in_thread(_worker(f"test-worker-{i}"), errors) for i in (1, 2)]
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert not any(thread.is_alive() for thread in threads)

    assert sorted(_runs) == list(range(tasks))  # every task ran ...
    assert set(_runs.values()) == {1}  # ... exactly once
    results = list(DBTaskResult.objects.all())
    assert len(results) == tasks
    assert {r.status for r in results} == {TaskResultStatus.SUCCESSFUL}
    assert all(len(r.worker_ids) == 1 for r in results)  # claimed once, by one worker


def test_a_task_whose_worker_died_stays_running_and_is_not_rerun_issue_20_point_1(settings):
    """kill -9 after the claim: the row was committed as RUNNING and nothing resets it."""
    settings.TASKS = DB_TASKS
    _runs.clear()
    record_run.enqueue(1)
    claimed = DBTaskResult.objects.get()
    claimed.claim("worker-that-died")  # what db_worker commits before it calls the task

    _worker("test-worker-survivor").run()

    claimed.refresh_from_db()
    assert claimed.status == TaskResultStatus.RUNNING
    assert claimed.worker_ids == ["worker-that-died"]
    assert _runs == Counter()  # not run again by the surviving worker
