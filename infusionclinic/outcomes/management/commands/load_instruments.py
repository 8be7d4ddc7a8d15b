from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from infusionclinic.outcomes.instruments import instruments_sync
from infusionclinic.outcomes.models import InstrumentDefinition
from infusionclinic.outcomes.scoring import InstrumentDataError


class Command(BaseCommand):
    help = (
        "Check every rating-scale definition under outcomes/data/instruments/ and store new ones."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            with transaction.atomic():
                created = instruments_sync(InstrumentDefinition)
        except InstrumentDataError as exc:
            raise CommandError(str(exc)) from exc
        for label in created:
            self.stdout.write(f"Loaded {label}")
        self.stdout.write(f"{len(created)} new instrument version(s).")
