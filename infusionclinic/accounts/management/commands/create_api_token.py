from django.core.management.base import BaseCommand, CommandError, CommandParser

from infusionclinic.accounts.models import User
from infusionclinic.accounts.services import api_token_create


class Command(BaseCommand):
    help = "Print a new API bearer token for the user with this email (only the token, on stdout)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")

    def handle(self, *args: object, **options: object) -> None:
        user = User.objects.filter(email=str(options["email"]).strip().lower(), is_active=True)
        found = user.first()
        if found is None:
            raise CommandError(f"No active user with email {options['email']}.")
        self.stdout.write(api_token_create(user=found))
