from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from infusionclinic.accounts.services import location_create


class Command(BaseCommand):
    help = "Create a clinic location (site) without prompts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("code", help="short code, e.g. boston (letters, digits, -, _)")
        parser.add_argument("--name", required=True)
        parser.add_argument("--timezone", required=True, help="IANA name, e.g. America/New_York")
        parser.add_argument("--clinic", required=True, help="the clinic's name")

    def handle(self, *args: object, **options: object) -> None:
        try:
            location = location_create(
                code=str(options["code"]),
                name=str(options["name"]),
                timezone_name=str(options["timezone"]),
                clinic_name=str(options["clinic"]),
            )
        except ValidationError as exc:
            lines = [f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items()]
            raise CommandError("Location not created.\n" + "\n".join(lines)) from exc
        self.stdout.write(f"Created location {location.code} ({location.timezone}).")
