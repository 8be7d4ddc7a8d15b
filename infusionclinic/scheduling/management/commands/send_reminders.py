from django.core.management.base import BaseCommand

from infusionclinic.scheduling.reminders import reminders_dispatch


class Command(BaseCommand):
    help = "Queue the appointment reminders that are due (run every few minutes, e.g. from cron)."

    def handle(self, *args: object, **options: object) -> None:
        count = reminders_dispatch()
        self.stdout.write(f"{count} reminder(s) queued.")
