from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from infusionclinic.accounts.roles import Role
from infusionclinic.accounts.services import user_create
from infusionclinic.common.context import client_context


class Command(BaseCommand):
    help = (
        "Create a user without prompts. A patient user is linked to the chart with --patient MRN."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument(
            "--location",
            action="append",
            default=[],
            dest="locations",
            metavar="CODE",
            help="a location code; repeat for several",
        )
        parser.add_argument("--patient", metavar="MRN", help="the chart a patient user opens")
        parser.add_argument("--password", help="omit to have the person set one by reset email")
        parser.add_argument("--name", default="", help="full name")

    def handle(self, *args: object, **options: object) -> None:
        with client_context(client_address="cli:create_user", channel="cli"):
            try:
                user = user_create(
                    email=str(options["email"]),
                    role=str(options["role"]),
                    password=options["password"],  # type: ignore[arg-type]
                    full_name=str(options["name"]),
                    location_codes=options["locations"],  # type: ignore[arg-type]
                    patient_mrn=options["patient"],  # type: ignore[arg-type]
                )
            except ValidationError as exc:
                lines = [f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items()]
                raise CommandError("User not created.\n" + "\n".join(lines)) from exc
        self.stdout.write(f"Created {user.role} {user.email}.")
