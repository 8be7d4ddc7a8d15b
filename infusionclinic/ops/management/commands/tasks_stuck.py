"""Tasks left RUNNING by a worker that died (issue 20 section 1).

django-tasks-db claims a task by committing it as RUNNING before it runs, so a worker killed in
the middle of a task (SIGKILL, power loss, OOM) leaves the row RUNNING for good: no other worker
runs it again (never twice), and nothing finishes it either. This command lists such tasks (exit
status 1 when there are any, for monitoring) and, only for the ids an operator names, puts them
back in the queue: whether a task is safe to run again is a decision about that task (a reminder
mail might go out twice), so it is never made automatically."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult


class Command(BaseCommand):
    help = (
        "List background tasks RUNNING for longer than --minutes (their worker probably died); "
        "--requeue ID... puts the named ones back in the queue."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--minutes",
            type=int,
            default=settings.TASKS_STUCK_MINUTES,
            help="RUNNING for longer than this counts as stuck (default TASKS_STUCK_MINUTES).",
        )
        parser.add_argument("--requeue", nargs="+", metavar="ID", default=[])

    def handle(self, *args: object, **options: object) -> None:
        cutoff = timezone.now() - timedelta(minutes=int(options["minutes"]))  # type: ignore[call-overload]
        stuck = DBTaskResult.objects.filter(
            status=TaskResultStatus.RUNNING, started_at__lt=cutoff
        ).order_by("started_at")
        requeue = [str(i) for i in options["requeue"]]  # type: ignore[attr-defined]
        if requeue:
            with transaction.atomic():
                rows = list(stuck.select_for_update().filter(pk__in=requeue))
                found = {str(r.pk) for r in rows}
                missing = sorted(set(requeue) - found)
                if missing:
                    raise CommandError(
                        "Not stuck (unknown, finished, or running for less than --minutes): "
                        + ", ".join(missing)
                    )
                for row in rows:
                    row.status = TaskResultStatus.READY
                    row.started_at = None
                    row.save(update_fields=["status", "started_at"])
                    self.stdout.write(f"requeued {row.pk} {row.task_path}")
            return
        rows = list(stuck)
        for row in rows:
            workers = ",".join(row.worker_ids)
            self.stdout.write(
                f"{row.pk} {row.task_path} started {row.started_at.isoformat()} by {workers}"
            )
        if rows:
            self.stderr.write(
                f"{len(rows)} task(s) stuck RUNNING for over {options['minutes']} min."
            )
            raise SystemExit(1)
