"""Write chain-scale volume fast (issue 13): patients with weights, heights and diagnoses, and one
audit event per write, in bulk inserts, with the audit hash chain computed as it goes so that
`verify_audit` still passes. Ends with ANALYZE on PostgreSQL (autovacuum may be off).

The clinical volume of later capabilities (infusions with vitals, assessments, orders, invoices,
controlled-substance entries) is added here as those capabilities land."""

from __future__ import annotations

import random
import time
from datetime import date, timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils import timezone

from infusionclinic.accounts.models import Clinic, Location
from infusionclinic.audit.hashing import event_hash, hashed_fields
from infusionclinic.audit.models import AuditAction, AuditChainHead, AuditEvent
from infusionclinic.audit.services import _head_restore
from infusionclinic.patients.icd10 import icd10_table
from infusionclinic.patients.models import (
    BodyMeasurement,
    Diagnosis,
    Patient,
    fold_for_search,
    name_search_keys,
)
from infusionclinic.patients.services import _new_mrn

GIVEN = [
    "Ada",
    "Ben",
    "Carmen",
    "Dev",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemi",
    "Lars",
    "Maya",
    "Nadia",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Tara",
]
FAMILY = [
    "Smith",
    "Garcia",
    "Nguyen",
    "Okafor",
    "Kowalski",
    "Haddad",
    "Rossi",
    "Tanaka",
    "Murphy",
    "Schmidt",
    "Silva",
    "Cohen",
    "Dubois",
    "Larsen",
    "Patel",
    "Reyes",
    "Varga",
    "Müller",
    "O'Neill",
    "Zhang",
]
BATCH = 2000


class Command(BaseCommand):
    help = "Bulk-load N realistic patients (and their audit events) for benchmarks."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--patients", type=int, required=True)
        parser.add_argument("--seed", type=int, default=13)

    def handle(self, *args: object, **options: object) -> None:
        n = int(options["patients"])  # type: ignore[arg-type]
        if n < 1:
            raise CommandError("--patients must be at least 1.")
        rng = random.Random(int(options["seed"]))  # noqa: S311 - test data, not security
        started = time.perf_counter()
        clinic, _ = Clinic.objects.get_or_create(name="Scale Clinic")
        locations = [
            Location.objects.get_or_create(
                code=f"scale{i}",
                defaults={
                    "clinic": clinic,
                    "name": f"Scale site {i}",
                    "timezone": "America/New_York",
                },
            )[0]
            for i in range(4)
        ]
        codes = [c.code for c in icd10_table().values() if c.billable]
        today = timezone.localdate()
        # MRNs are random (patients.services._new_mrn); at this volume draws collide, so the
        # ones taken are remembered and redrawn.
        self._mrns = set(Patient.objects.values_list("mrn", flat=True))
        done = 0
        while done < n:
            size = min(BATCH, n - done)
            with transaction.atomic():
                self._batch(size, rng, locations, codes, today)
            done += size
            self.stdout.write(f"{done}/{n} patients", ending="\r")
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        seconds = time.perf_counter() - started
        self.stdout.write(f"\n{n} patients in {seconds:.1f} s ({n / seconds:.0f}/s).")

    def _batch(self, size, rng, locations, codes, today):  # type: ignore[no-untyped-def]
        patients = []
        for _ in range(size):
            given, family = rng.choice(GIVEN), rng.choice(FAMILY) + rng.choice(["", "-Lee", "son"])
            patients.append(
                Patient(
                    mrn=self._unique_mrn(),
                    given_name=given,
                    family_name=family,
                    birth_date=date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 55)),
                    sex_at_birth=rng.choice(["female", "male"]),
                    email=f"{fold_for_search(given)}.{rng.randrange(10**9)}@example.com",
                    home_location=rng.choice(locations),
                    **name_search_keys(given_name=given, family_name=family, preferred_name=""),
                )
            )
        Patient.objects.bulk_create(patients, batch_size=BATCH)
        if patients[0].pk is None:  # SQLite before 3.35 or old drivers: read the ids back
            patients = list(Patient.objects.filter(mrn__in=[p.mrn for p in patients]))
        measurements, diagnoses = [], []
        for p in patients:
            for days in (0, 30, 60, 90):
                measurements.append(
                    BodyMeasurement(
                        patient=p,
                        kind="weight",
                        value_si=Decimal(rng.randrange(500, 1300)) / 10,
                        entered_value=Decimal(80),
                        entered_unit="kg",
                        measured_on=today - timedelta(days=days),
                    )
                )
            measurements.append(
                BodyMeasurement(
                    patient=p,
                    kind="height",
                    value_si=Decimal(rng.randrange(150, 200)),
                    entered_value=Decimal(170),
                    entered_unit="cm",
                    measured_on=today,
                )
            )
            code = rng.choice(codes)
            diagnoses.append(
                Diagnosis(
                    patient=p,
                    code=code,
                    description=icd10_table()[code].description,
                    is_primary=True,
                )
            )
        BodyMeasurement.objects.bulk_create(measurements, batch_size=BATCH)
        Diagnosis.objects.bulk_create(diagnoses, batch_size=BATCH)
        self._audit(patients)

    def _unique_mrn(self) -> str:
        while (mrn := _new_mrn()) in self._mrns:
            continue
        self._mrns.add(mrn)
        return mrn

    def _audit(self, patients):  # type: ignore[no-untyped-def]
        """One `create` event per patient, chained exactly as audit_record chains them."""
        if not AuditChainHead.objects.filter(pk=1).exists():
            _head_restore()
        head = AuditChainHead.objects.select_for_update().get(pk=1)
        seq, prev = head.seq, head.last_hash
        now = timezone.now()
        events = []
        for p in patients:
            seq += 1
            event = AuditEvent(
                seq=seq,
                occurred_at=now,
                actor=None,
                actor_email="",
                actor_role="",
                action=AuditAction.CREATE,
                patient_id=p.pk,
                object_type="patients.Patient",
                object_id=str(p.pk),
                client_address="cli:seed_scale",
                channel="cli",
                detail={},
            )
            event.prev_hash = prev
            event.hash = event_hash(prev_hash=prev, fields=hashed_fields(event))
            prev = event.hash
            events.append(event)
        AuditEvent.objects.bulk_create(events, batch_size=BATCH)
        AuditChainHead.objects.filter(pk=1).update(seq=seq, last_hash=prev)
