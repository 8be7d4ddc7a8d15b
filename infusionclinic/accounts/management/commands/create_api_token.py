from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from infusionclinic.accounts.models import User
from infusionclinic.accounts.services import api_token_create


class Command(BaseCommand):
    help = (
        "Print a new API bearer token for the user with this email (only the token, on stdout). "
        "It expires after API_TOKEN_DAYS days (or --days, at most that); audited."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--name", default="", help="What the token is for, e.g. 'monitor 3'")
        parser.add_argument("--days", type=int, default=None, help="Expiry in days")

    def handle(self, *args: object, **options: object) -> None:
        user = User.objects.filter(email=str(options["email"]).strip().lower(), is_active=True)
        found = user.first()
        if found is None:
            raise CommandError(f"No active user with email {options['email']}.")
        try:
            raw = api_token_create(
                user=found,
                name=str(options["name"]),
                days=options["days"],  # type: ignore[arg-type]
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(raw)
