from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from infusionclinic.courses.checkins import checkins_dispatch, checkins_due_task


class Command(BaseCommand):
    help = (
        "Create the home check-ins that have come due and queue their reminder mails (issue 18 "
        "section 2). Run it every 15 minutes from cron, beside db_worker; --enqueue hands the "
        "run to the worker instead."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--enqueue", action="store_true", help="Queue the run for the worker (db_worker)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["enqueue"]:
            checkins_due_task.enqueue()
            self.stdout.write("Check-in run queued.")
            return
        counts = checkins_dispatch()
        self.stdout.write(
            f"{counts['created']} check-in(s) created, {counts['reminders']} reminder(s) and "
            f"{counts['repeats']} repeat(s) queued."
        )
