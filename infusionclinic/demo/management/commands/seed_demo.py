from datetime import date

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from infusionclinic.accounts.models import Clinic, Location, User
from infusionclinic.accounts.services import user_create
from infusionclinic.common.context import client_context
from infusionclinic.demo import data
from infusionclinic.demo.history import Cast, history_build
from infusionclinic.demo.visits import visits_build
from infusionclinic.patients import services
from infusionclinic.patients.models import Patient


def _email_of(role: str) -> str:
    return next(spec["email"] for spec in data.USERS if spec["role"] == role)


class Command(BaseCommand):
    help = "Load the demo clinic (idempotent: running it again changes nothing)."

    def handle(self, *args: object, **options: object) -> None:
        if not settings.DEMO_MODE:
            raise CommandError("seed_demo only runs with DEMO_MODE on (never in production).")
        with client_context(client_address="cli:seed_demo", channel="cli"), transaction.atomic():
            created = self._seed()
            stories = history_build(
                cast=Cast(
                    front_desk=User.objects.get(email=_email_of("front_desk")),
                    nurse=User.objects.get(email=_email_of("nurse")),
                    prescriber=User.objects.get(email=_email_of("prescriber")),
                )
            )
            visits_build()
        self.stdout.write(
            f"Demo data ready ({created} new patients; {Patient.objects.count()} in all; "
            f"{stories} new care histories)."
        )
        self._print_logins()

    def _seed(self) -> int:
        clinic, _ = Clinic.objects.get_or_create(name=data.CLINIC_NAME)
        for loc in data.LOCATIONS:
            Location.objects.get_or_create(code=loc["code"], defaults={**loc, "clinic": clinic})
        users = {}
        for spec in data.USERS:
            user = User.objects.filter(email=spec["email"]).first()
            if user is None:
                user = user_create(
                    email=spec["email"],
                    role=spec["role"],
                    password=data.DEMO_PASSWORD,
                    full_name=spec["name"],
                    location_codes=spec["locations"],
                )
            users[spec["role"]] = user
        admin, nurse, prescriber = users["admin"], users["nurse"], users["prescriber"]
        providers = [services.referring_provider_get_or_create(**p) for p in data.PROVIDERS]
        locations = {loc.code: loc for loc in Location.objects.all()}

        created = 0
        for row in data.PATIENTS:
            (given, family, preferred, dob, sex, loc, prov, dx, weight, height, allergies, meds) = (
                row
            )
            birth_date = date.fromisoformat(dob)
            if Patient.objects.filter(
                given_name=given, family_name=family, birth_date=birth_date
            ).exists():
                continue
            slug = f"{given}.{family}".lower().replace("'", "").replace("ü", "u")
            patient = services.patient_create(
                actor=admin,
                location=locations[loc],
                given_name=given,
                family_name=family,
                preferred_name=preferred,
                birth_date=birth_date,
                sex_at_birth=sex,
                email=f"{slug}@example.com",
                phone=f"555-01{created:02d}",
                city="Boston" if loc == "boston" else "Denver",
                region="MA" if loc == "boston" else "CO",
                emergency_contact_name=f"{family} family contact",
                emergency_contact_phone=f"555-02{created:02d}",
                emergency_contact_relationship="Spouse",
                weight=weight[0],
                weight_unit=weight[1],
                height=height[0],
                height_unit=height[1],
                referring_provider=providers[prov],
            )
            for substance, reaction, severity in allergies:
                services.allergy_add(
                    actor=nurse,
                    patient=patient,
                    substance=substance,
                    reaction=reaction,
                    severity=severity,
                )
            for name, dose in meds:
                services.medication_add(actor=nurse, patient=patient, name=name, dose=dose)
            for i, code in enumerate(dx):
                services.diagnosis_add(
                    actor=prescriber, patient=patient, code=code, is_primary=i == 0
                )
            created += 1

        if not User.objects.filter(email=data.PATIENT_USER["email"]).exists():
            first = data.PATIENTS[0]
            patient = Patient.objects.get(
                given_name=first[0], family_name=first[1], birth_date=date.fromisoformat(first[3])
            )
            user_create(
                email=data.PATIENT_USER["email"],
                role="patient",
                password=data.DEMO_PASSWORD,
                full_name=data.PATIENT_USER["name"],
                patient_mrn=patient.mrn,
            )
        return created

    def _print_logins(self) -> None:
        self.stdout.write(f"\nDemo log-ins (password for all: {data.DEMO_PASSWORD})")
        for spec in [*data.USERS, {"email": data.PATIENT_USER["email"], "role": "patient"}]:
            self.stdout.write(f"  {spec['role']:<11} {spec['email']}")
        if not settings.STAFF_2FA_REQUIRED:
            self.stdout.write("Staff two-factor log-in is skipped in this demo (DEMO_MODE).")
