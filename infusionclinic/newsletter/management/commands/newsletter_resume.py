from django.core.management.base import BaseCommand

from infusionclinic.common.context import client_context
from infusionclinic.newsletter.services import campaigns_resume


class Command(BaseCommand):
    help = (
        "After a crash or restart: queue the next batch of every campaign still sending. Messages "
        "a stopped worker was in the middle of are marked 'unknown' and never sent again."
    )

    def handle(self, *args: object, **options: object) -> None:
        with client_context(client_address="cli:newsletter_resume", channel="cli"):
            resumed, unknown = campaigns_resume()
        self.stdout.write(f"Resumed {resumed} campaign(s); {unknown} message(s) marked unknown.")
