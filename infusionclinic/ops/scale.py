"""The rows of `manage.py seed_scale` (issue 13): N patients with the clinical volume of a chain of
clinics, written fast and as the application itself would have written them.

Per patient: a consultation, a treatment course (protocol PROT-10 induction then PROT-30
maintenance) with its phase decisions, two signed standing dosing orders (one per phase, DOSE-1
dose from the protocol, weights measured on the order's day: WT-8), 8-12 completed infusion
appointments on chairs of the patient's home location over the last ~3 years, each with a
discharged session, 10 vital-sign readings (pre, during, recovery; inside the monitoring
thresholds so that no alert is owed), a controlled-substance draw (CS-31/CS-42) from a lot whose
receipts keep its running balance at or above zero (CS-41), an invoice with its line and a card
payment; rating-scale responses of the course's primary instrument (scored by `outcomes.scoring`,
no answer that raises a SCALE-4 alert); and the audit events of those writes, sealed into the hash
chain (`audit.bulk`). A few sessions per location are left in progress today (the benchmark posts
vitals to them).

On PostgreSQL rows go in with COPY, per table and per chunk of 1,000 patients (memory stays
constant), with primary keys taken ahead from the tables' sequences (nextval) so that foreign keys
are known without reading back. The visits of a chunk go into a temporary table with one COPY and
their appointments, sessions, pump events, vital signs, invoices, lines and payments are made from
it by one INSERT ... SELECT each. Outside a transaction a writer thread with its own connection
stores chunk k while the generator builds chunk k+1. Foreign keys are right by construction, so a
superuser connection skips their per-row triggers for the chunk (`session_replication_role =
replica`, SET LOCAL; UPDATE/DELETE triggers are irrelevant to inserts); the tests check every
foreign key afterwards. On SQLite (the test suite, small N) the same rows go through
`bulk_create`, the visit rows made in Python.

Two runs at once are safe for keys (nextval) and the audit chain (the head lock), not for chair
slots: each run continues after the appointments already on a day when it starts.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import queue
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import connection, models, transaction
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone

from infusionclinic.accounts.models import Clinic, Location, User
from infusionclinic.accounts.roles import Role
from infusionclinic.audit.bulk import BulkEvent, audit_chain_extend
from infusionclinic.audit.models import AuditAction, AuditEvent
from infusionclinic.billing.models import (
    BillableService,
    Invoice,
    InvoiceLine,
    Payment,
    Price,
)
from infusionclinic.controlled.models import LedgerEntry, Lot, Product
from infusionclinic.courses.models import PhaseDecision, Protocol, TreatmentCourse
from infusionclinic.dosing.models import DosingOrder
from infusionclinic.infusions.models import InfusionSession, PumpEvent, VitalSign
from infusionclinic.outcomes.models import Assessment, InstrumentDefinition
from infusionclinic.outcomes.scoring import InstrumentSpec
from infusionclinic.patients.icd10 import icd10_table
from infusionclinic.patients.models import (
    BodyMeasurement,
    Diagnosis,
    Patient,
    fold_for_search,
    name_search_keys,
)
from infusionclinic.patients.services import _new_mrn
from infusionclinic.scheduling.models import Appointment, Chair, OpeningHours


def _words(text: str) -> list[str]:
    return text.split()


GIVEN = _words(
    "Ada Ben Carmen Dev Elena Farid Grace Hiro Ines Jonas Kemi Lars Maya Nadia Omar Priya Quinn "
    "Rosa Sam Tara"
)
FAMILY = _words(
    "Smith Garcia Nguyen Okafor Kowalski Haddad Rossi Tanaka Murphy Schmidt "
    "Silva Cohen Dubois Larsen Patel Reyes Varga Müller O'Neill Zhang"
)
ESCORTS = ["Alex Morgan", "Jamie Lee", "Chris Park", "Robin Diaz", "Taylor Brooks"]
LOCATIONS = 4
OPEN_AT = dtime(8, 0)
SLOTS_PER_CHAIR_DAY = 5  # 08:00-18:00 in 2-hour slots
SLOT = timedelta(hours=2)
APPOINTMENT_LENGTH = timedelta(minutes=110)
HISTORY_DAYS = 1000  # the last ~2.7 years
INDICATIONS = ["depression"] * 6 + ["anxiety"] * 2 + ["ptsd"] * 2
VIAL_MG_PER_ML = Decimal(50)  # the 50 mg/mL × 10 mL vial of controlled-substances.md §8
RECEIPT_ML = Decimal("100.00")  # ten vials
INFUSION_PRICE = Decimal("450.00")
PUMP_START_MIN, PUMP_STOP_MIN = 18, 58  # after check-in: a 40-minute infusion (DOSE-1)
PUMP_START, PUMP_STOP = timedelta(minutes=PUMP_START_MIN), timedelta(minutes=PUMP_STOP_MIN)
CHUNK = 1000
WRITERS = 2  # writer threads on PostgreSQL (see _Pipeline)
ID_BLOCK = 50_000
IN_PROGRESS_PER_LOCATION = 2
ACTOR = {"client_address": "cli:seed_scale", "channel": "cli"}
# Minutes after check-in of the 10 readings of a session (MON-1 cadence: pre, every ~8 minutes
# while infusing, then recovery).
VITAL_SCHEDULE = [
    ("pre", 0),
    ("pre", 10),
    ("infusion", 20),
    ("infusion", 28),
    ("infusion", 36),
    ("infusion", 44),
    ("infusion", 52),
    ("recovery", 65),
    ("recovery", 80),
    ("recovery", 95),
]


# --- writing ---------------------------------------------------------------------------------


class Table:
    """The columns a model is written with, in order (attnames, checked against `_meta`)."""

    def __init__(self, model: type[models.Model], names: str) -> None:
        attnames = names.split()
        fields = {f.attname: f for f in model._meta.concrete_fields}
        missing = [a for a in attnames if a not in fields]
        if missing:
            raise ValueError(f"{model.__name__} has no column {missing}")
        # Columns not given take the model's default (COPY would leave them NULL otherwise).
        rest = [f for f in model._meta.concrete_fields if f.attname not in attnames]
        for f in rest:
            if not f.primary_key and not f.null and f.get_default() is None:
                raise ValueError(f"{model.__name__}.{f.attname} needs a value")
        rest = [f for f in rest if not f.primary_key]
        self.model = model
        self.attnames = attnames
        self.columns = [fields[a].column for a in attnames] + [f.column for f in rest]
        self.copy_suffix = "".join("\t" + _copy_text(f.get_default()) for f in rest)
        # One formatter per column, chosen once from the field: the hot loop calls no dispatcher.
        self.formatters = [_formatter(fields[a]) for a in attnames]
        self.db_table = model._meta.db_table
        self.rest = rest

    def insert_select(self, exprs: dict[str, Any], source: str) -> str:
        """INSERT ... SELECT with one SQL expression per given column (defaults for the rest)."""
        if list(exprs) != self.attnames:
            raise ValueError(f"{self.model.__name__}: columns {list(exprs)} != {self.attnames}")
        values = [str(e) for e in exprs.values()]
        values += [_sql_literal(f.get_default()) for f in self.rest]
        return (
            f"INSERT INTO {self.db_table} ({', '.join(self.columns)}) "  # noqa: S608
            f"SELECT {', '.join(values)} FROM {source}"
        )


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: Any) -> str:
    """One value in COPY's text format."""
    return _COPY_FORMAT.get(type(value), str)(value)


def _copy_str(value: str) -> str:
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_ESCAPES)
    return value


def _copy_json(value: Any) -> str:
    return json.dumps(value).translate(_ESCAPES)


_COPY_FORMAT: dict[type, Callable[[Any], str]] = {
    type(None): lambda _: "\\N",
    str: _copy_str,
    bool: lambda v: "t" if v else "f",
    datetime: datetime.isoformat,
    date: date.isoformat,
    dict: _copy_json,
    list: _copy_json,
    int: int.__repr__,
    Decimal: Decimal.__str__,
    timedelta: lambda v: f"{v // timedelta(microseconds=1)} microseconds",
}


def _formatter(field: models.Field) -> Callable[[Any], str]:
    """The COPY text formatter for a column's values: a builtin where the type is fixed."""
    if field.null or isinstance(field, models.JSONField | models.BooleanField):
        return _copy_text
    if isinstance(field, models.CharField | models.TextField):
        return _copy_str
    if isinstance(field, models.DateTimeField):
        return datetime.isoformat
    if isinstance(field, models.DateField):
        return date.isoformat
    return str


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_literal(value: Any) -> str:
    """A column default as an SQL literal (constants from the models, never user input)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _sql_text(value)
    if isinstance(value, dict | list):
        return _sql_text(json.dumps(value)) + "::jsonb"
    return str(value)


class Writer:
    """Rows of one chunk, per table, written in the order tables were first used."""

    def __init__(self) -> None:
        self.postgres = connection.vendor == "postgresql"
        self.rows: dict[Table, list[Any]] = {}
        self.counts: dict[str, int] = defaultdict(int)
        self.seconds: dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()  # the pipeline's writer threads tally here together

    def counted(self, label: str, rows: int) -> None:
        with self._lock:
            self.counts[label] += rows

    def timed(self, phase: str, seconds: float) -> None:
        with self._lock:
            self.seconds[phase] += seconds

    def add(self, table: Table, row: tuple[Any, ...]) -> None:
        bucket = self.rows.get(table)
        if bucket is None:
            bucket = self.rows[table] = []
        if self.postgres:
            line = "\t".join([f(v) for f, v in zip(table.formatters, row, strict=True)])
            bucket.append(line + table.copy_suffix)
        else:
            bucket.append(row)

    def flush(self, batch: dict[Table, list[Any]] | None = None) -> None:
        """Write `batch` (by default the rows added so far, which are then forgotten)."""
        if batch is None:
            batch, self.rows = self.rows, {}
        for table, rows in batch.items():
            if not rows:
                continue
            started = time.perf_counter()
            self.write(table, rows)
            self.counted(table.model._meta.label, len(rows))
            self.timed("write " + table.model._meta.label, time.perf_counter() - started)

    def write(self, table: Table, rows: list[Any]) -> None:
        if self.postgres:
            with connection.cursor() as cursor:
                sql = f"COPY {table.db_table} ({', '.join(table.columns)}) FROM STDIN"
                with cursor.cursor.copy(sql) as copy:
                    for start in range(0, len(rows), 5000):
                        copy.write("\n".join(rows[start : start + 5000]) + "\n")
        else:
            objs = [table.model(**dict(zip(table.attnames, row, strict=True))) for row in rows]
            table.model._default_manager.bulk_create(objs, batch_size=500)


class Ids:
    """Primary keys taken ahead in blocks, so rows can name their parents before they exist.
    On PostgreSQL each key comes from the table's own sequence (nextval), so the application or
    another run writing at the same time can never be handed the same key."""

    def __init__(self, model: type[models.Model]) -> None:
        self.model = model
        self.pending: Iterator[int] = iter(())
        self.last = 0

    def take(self) -> int:
        value = next(self.pending, None)
        if value is None:
            self.pending = iter(self._reserve())
            value = next(self.pending)
        self.last = value
        return value

    def _reserve(self) -> list[int]:
        table = self.model._meta.db_table
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                    [table, ID_BLOCK],
                )
                return [row[0] for row in cursor.fetchall()]
            # One writer on SQLite (it locks the whole file): continue after the highest id.
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608
            first = max(cursor.fetchone()[0], self.last) + 1
            return list(range(first, first + ID_BLOCK))


# --- the clinic the rows belong to ---------------------------------------------------------


@dataclass
class Site:
    location: Location
    chairs: list[int]
    tz: Any
    price_id: int
    day_load: dict[date, int] = field(default_factory=dict)  # infusion appointments per day


@dataclass
class ScaleClinic:
    sites: list[Site]
    nurse: User
    prescriber: User
    desk: User
    protocols: dict[str, Protocol]
    instruments: dict[str, tuple[int, InstrumentSpec]]
    service: BillableService
    product: Product


def _user(email: str, role: str, name: str, locations: list[Location]) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email, None, role=role, full_name=name)
    user.locations.add(*locations)
    return user


def clinic_prepare(*, patients: int) -> ScaleClinic:
    """Locations, chairs (enough for the history's infusions), opening hours, staff, prices, the
    ketamine product: what the rows refer to. Idempotent: a second run reuses and extends."""
    clinic, _ = Clinic.objects.get_or_create(name="Scale Clinic")
    locations = [
        Location.objects.get_or_create(
            code=f"scale{i}",
            defaults={"clinic": clinic, "name": f"Scale site {i}", "timezone": "America/New_York"},
        )[0]
        for i in range(LOCATIONS)
    ]
    open_days = HISTORY_DAYS * 6 // 7
    per_day = patients * 10 / LOCATIONS / open_days
    chairs_needed = max(4, math.ceil(per_day * 1.3 / SLOTS_PER_CHAIR_DAY) + 1)
    service = BillableService.objects.get(code="96365")  # CODE-PX-R1: timed infusion code
    sites = []
    for location in locations:
        have = set(Chair.objects.filter(location=location).values_list("name", flat=True))
        Chair.objects.bulk_create(
            [
                Chair(location=location, name=f"Chair {i:03d}")
                for i in range(1, chairs_needed + 1)
                if f"Chair {i:03d}" not in have
            ]
        )
        for weekday in range(6):
            OpeningHours.objects.get_or_create(
                location=location,
                weekday=weekday,
                defaults={"opens_at": OPEN_AT, "closes_at": dtime(18, 0)},
            )
        price, _ = Price.objects.get_or_create(
            location=location,
            service=service,
            effective_from=date(2020, 1, 1),
            defaults={"unit_price": INFUSION_PRICE},
        )
        chairs = list(
            Chair.objects.filter(location=location, name__startswith="Chair ")
            .order_by("name")
            .values_list("pk", flat=True)
        )
        sites.append(Site(location, chairs, location.tzinfo, price.pk))
    for site in sites:  # continue after the appointments already on each day (a second run)
        rows = (
            Appointment.objects.filter(location=site.location, kind="infusion")
            .annotate(day=TruncDate("starts_at", tzinfo=site.tz))
            .values("day")
            .annotate(n=Count("id"))
        )
        site.day_load = {row["day"]: row["n"] for row in rows}
    product = Product.objects.filter(ndc="42023-113-10").first() or Product.objects.create(
        ndc="42023-113-10",
        ndc11="42023-0113-10",
        name="Ketamine HCl injection",
        strength_mg_per_ml=VIAL_MG_PER_ML,
        container_ml=Decimal(10),
    )
    instruments = {}
    for code in ("PHQ-9", "GAD-7", "PCL-5"):
        definition = InstrumentDefinition.objects.filter(code=code).order_by("-version").first()
        if definition is not None:
            instruments[code] = (definition.pk, definition.spec)
    return ScaleClinic(
        sites=sites,
        nurse=_user("scale.nurse@example.com", Role.NURSE, "Scale Nurse", locations),
        prescriber=_user(
            "scale.prescriber@example.com", Role.PRESCRIBER, "Scale Prescriber", locations
        ),
        desk=_user("scale.desk@example.com", Role.FRONT_DESK, "Scale Desk", locations),
        protocols={
            p.key: p for p in Protocol.objects.filter(clinic=None).order_by("key", "version")
        },
        instruments=instruments,
        service=service,
        product=product,
    )


# --- tables ------------------------------------------------------------------------------------

T_PATIENT = Table(
    Patient,
    "id mrn given_name family_name birth_date sex_at_birth email phone home_location_id version "
    "family_name_key given_name_key preferred_name_key created_at updated_at",
)
T_MEASURE = Table(
    BodyMeasurement,
    "id patient_id kind value_si entered_value entered_unit measured_on recorded_by_id created_at",
)
T_DIAGNOSIS = Table(
    Diagnosis,
    "patient_id code description is_primary noted_on recorded_by_id created_at updated_at",
)
T_COURSE = Table(
    TreatmentCourse,
    "id patient_id indication protocol_id primary_instrument phase started_at phase_started_at "
    "extension_infusions_used created_by_id created_at updated_at",
)
T_DECISION = Table(
    PhaseDecision,
    "course_id from_phase to_phase reason proposal_action proposal_rule_ids proposal_numbers "
    "extension_infusions decided_by_id decided_at",
)
T_ORDER = Table(
    DosingOrder,
    "id patient_id course_id lineage_id version status scope phase indication weight_basis "
    "sex_for_dosing weight_kg weight_measurement_id weight_measured_on height_cm bmi "
    "dosing_weight_kg dose_mg_per_kg duration_min concentration_mg_per_ml dose_mg volume_ml "
    "rate_ml_per_h findings rule_ids blocked warning_reason override_reason change_reason "
    "created_by_id created_at signed_by_id signed_at sign_method",
)
T_APPOINTMENT = Table(
    Appointment,
    "id patient_id location_id chair_id kind starts_at ends_at status course_id status_reason "
    "status_changed_at late_cancellation booked_by_id safety_confirmed_at escort_name "
    "escort_phone created_at updated_at",
)
T_SESSION = Table(
    InfusionSession,
    "id patient_id location_id appointment_id order_id scheduled_at state state_reason "
    "checked_in_at identity_confirmed escort_name escort_phone bp_override_reason "
    "infusion_ended_at discharged_at discharged_to_escort discharged_by_id created_by_id "
    "created_at",
)
T_PUMP = Table(PumpEvent, "session_id action at reason actor_id")
T_VITAL = Table(
    VitalSign,
    "session_id phase taken_at systolic_mmhg diastolic_mmhg heart_rate_bpm spo2_pct "
    "respiratory_rate sedation dissociation recorded_by_id created_at",
)
T_ASSESSMENT = Table(
    Assessment,
    "id patient_id instrument_id status answers total severity completed_at submitted_at "
    "administration language entered_by_id created_at updated_at",
)
T_INVOICE = Table(
    Invoice,
    "id patient_id location_id appointment_id infusion_session_id status date_of_service "
    "infusion_started_at infusion_stopped_at infusion_running rendering_provider_id "
    "package_credit currency created_by_id created_at updated_at",
)
T_LINE = Table(InvoiceLine, "invoice_id service_id code label units unit_price price_id")
T_PAYMENT = Table(
    Payment,
    "invoice_id kind method amount provider reference note recorded_by_id recorded_at",
)
T_LOT = Table(Lot, "id product_id location_id lot_number expiry storage created_at")
T_LEDGER = Table(
    LedgerEntry,
    "lot_id seq kind qty_ml concentration_mg_per_ml qty_mg delta_ml balance_after_ml "
    "occurred_at recorded_at actor_id order_id patient_id supplier supplier_dea "
    "invoice_number reason session_id",
)
T_AUDIT = Table(
    AuditEvent,
    "seq occurred_at actor_id actor_email actor_role action patient_id object_type object_id "
    "client_address channel detail prev_hash hash key_id",
)


def _q(value: Decimal, places: str = "0.1") -> Decimal:
    return value.quantize(Decimal(places), rounding=ROUND_HALF_UP)


@dataclass
class Batch:
    rows: dict[Table, list[Any]]
    visits: list[Visit]
    events: list[BulkEvent]


@dataclass(slots=True)
class Visit:
    """One completed infusion visit; its rows in seven tables are derived from these values."""

    aid: int
    sid: int
    iid: int
    pid: int
    location_id: int
    chair_id: int
    course_id: int
    order_id: int
    starts_at: datetime
    checked_in_at: datetime
    discharged_at: datetime
    escort: str
    phone: str
    date_of_service: date
    price_id: int


@dataclass(slots=True)
class Draw:
    site: int
    at: datetime
    qty_ml: Decimal
    order_id: int
    patient_id: int
    session_id: int  # the infusion the dose was drawn for (CS-42)


class Generator:
    def __init__(self, clinic: ScaleClinic, *, seed: int, today: date) -> None:
        self.clinic = clinic
        self.rng = random.Random(seed)  # noqa: S311 - test data, not security
        self.today = today
        self.codes = [c.code for c in icd10_table().values() if c.billable and c.code[0] == "F"]
        self.ids = {
            m: Ids(m)
            for m in (
                Patient,
                BodyMeasurement,
                TreatmentCourse,
                DosingOrder,
                Appointment,
                InfusionSession,
                Assessment,
                Invoice,
                Lot,
            )
        }
        self.mrns = set(Patient.objects.values_list("mrn", flat=True))
        self._answer_choices: dict[int, list[list[int]]] = {}
        self.writer_backend_cpu: float | None = 0.0  # the writer thread's, when there is one
        self.writer = Writer()
        self.recent: dict[int, list[tuple[int, int]]] = defaultdict(
            list
        )  # site -> (patient, order)

    # --- one chunk -----------------------------------------------------------------------

    def chunk(self, size: int, chunk_no: int) -> Batch:
        """Generate one chunk of patients (no database writes: ids are taken ahead)."""
        started = time.perf_counter()
        events: list[BulkEvent] = []
        draws: list[Draw] = []
        visits: list[Visit] = []
        for _ in range(size):
            self._patient(events, draws, visits)
        self._ledger(draws, chunk_no)
        batch = Batch(self.writer.rows, visits, events)
        self.writer.rows = {}
        self.writer.seconds["generate rows"] += time.perf_counter() - started
        return batch

    def store(self, batch: Batch) -> None:
        """Write one chunk in one transaction, its audit events sealed onto the chain last."""
        with transaction.atomic():
            if self.writer.postgres:
                _fast_triggers()
            self.writer.flush(batch.rows)
            self._visits_write(batch.visits)
            events = batch.events
            started = time.perf_counter()
            self.writer.counted(
                AuditEvent._meta.label, audit_chain_extend(events, write=self._write_events)
            )
            self.writer.timed("seal+write audit.AuditEvent", time.perf_counter() - started)

    def _write_events(self, sealed: Iterator[BulkEvent]) -> None:
        if not self.writer.postgres:
            self.writer.write(
                T_AUDIT, [tuple(getattr(e, a) for a in T_AUDIT.attnames) for e in sealed]
            )
            return
        t, suffix = _copy_text, T_AUDIT.copy_suffix
        # Who and where repeat from event to event: formatted once per distinct value.
        formatted: dict[tuple[Any, ...], tuple[str, ...]] = {}
        lines = []
        for e in sealed:
            key = (e.actor_id, e.actor_email, e.actor_role, e.action, e.object_type,
                   e.client_address, e.channel)  # fmt: skip
            f = formatted.get(key) or formatted.setdefault(key, tuple(map(t, key)))
            lines.append(
                f"{e.seq}\t{e.occurred_at.isoformat()}\t{f[0]}\t{f[1]}\t{f[2]}\t{f[3]}\t"
                f"{t(e.patient_id)}\t{f[4]}\t{t(e.object_id)}\t{f[5]}\t{f[6]}\t"
                f"{_copy_json(e.detail)}\t{e.prev_hash}\t{e.hash}\t{e.key_id}{suffix}"
            )
        self.writer.write(T_AUDIT, lines)

    def _event(
        self,
        events: list[BulkEvent],
        *,
        at: datetime,
        actor: User,
        action: str,
        patient_id: int,
        obj: type[models.Model],
        obj_id: int,
        **detail: Any,
    ) -> None:
        events.append(
            BulkEvent(
                occurred_at=at,
                action=action,
                patient_id=patient_id,
                object_type=obj._meta.label,
                object_id=str(obj_id),
                detail=detail,
                actor_id=actor.pk,
                actor_email=actor.email,
                actor_role=actor.role,
                **ACTOR,
            )
        )

    # --- one patient ---------------------------------------------------------------------

    def _patient(  # noqa: PLR0915 - one patient's record, in the order it happened
        self, events: list[BulkEvent], draws: list[Draw], visits: list[Visit]
    ) -> None:
        rng, c, w = self.rng, self.clinic, self.writer
        nurse, prescriber, desk = c.nurse, c.prescriber, c.desk
        site_no = rng.randrange(len(c.sites))
        site = c.sites[site_no]
        indication = rng.choice(INDICATIONS)
        protocol = c.protocols[indication]
        instrument = protocol.primary_instrument
        n_infusions = rng.randint(8, 12)
        induction = min(protocol.induction_count, n_infusions)
        span = (
            induction * protocol.induction_interval_days
            + (n_infusions - induction) * protocol.maintenance_interval_days
            + 14
        )
        first_day = self.today - timedelta(days=rng.randrange(span + 1, HISTORY_DAYS))
        consult_at = self._local(site, first_day, dtime(9, 0), rng)

        pid = self.ids[Patient].take()
        given = rng.choice(GIVEN)
        family = rng.choice(FAMILY) + rng.choice(["", "-Lee", "son"])
        sex = rng.choice(["female", "male"])
        registered = consult_at - timedelta(days=rng.randint(3, 20))
        keys = name_search_keys(given_name=given, family_name=family, preferred_name="")
        w.add(
            T_PATIENT,
            (
                pid,
                self._mrn(),
                given,
                family,
                date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 55)),
                sex,
                f"{fold_for_search(given)}.{rng.randrange(10**9)}@example.com",
                f"+1555{int(rng.random() * 10**7):07d}",
                site.location.pk,
                1,
                keys["family_name_key"],
                keys["given_name_key"],
                keys["preferred_name_key"],
                registered,
                registered,
            ),
        )
        self._event(
            events, at=registered, actor=desk, action=AuditAction.CREATE, patient_id=pid,
            obj=Patient, obj_id=pid,
        )  # fmt: skip
        height = Decimal(rng.randrange(150, 200))
        weight = Decimal(rng.randrange(500, 1300)) / 10
        w.add(
            T_MEASURE,
            (self.ids[BodyMeasurement].take(), pid, "height", height, height, "cm",
             first_day, nurse.pk, consult_at),
        )  # fmt: skip
        code = rng.choice(self.codes)
        w.add(
            T_DIAGNOSIS,
            (pid, code, icd10_table()[code].description, True, first_day, prescriber.pk,
             consult_at, consult_at),
        )  # fmt: skip
        consult_id = self.ids[Appointment].take()
        w.add(
            T_APPOINTMENT,
            (consult_id, pid, site.location.pk, None, "consultation", consult_at,
             consult_at + timedelta(hours=1), "completed", None, "",
             consult_at + timedelta(hours=1), False, desk.pk, None, "", "", registered,
             consult_at + timedelta(hours=1)),
        )  # fmt: skip

        course_id = self.ids[TreatmentCourse].take()
        course_at = consult_at + timedelta(minutes=50)
        phase = "maintenance" if n_infusions > induction else "induction"
        days = [first_day + timedelta(days=7 + i * protocol.induction_interval_days)
                for i in range(induction)]  # fmt: skip
        days += [days[-1] + timedelta(days=(i + 1) * protocol.maintenance_interval_days)
                 for i in range(n_infusions - induction)]  # fmt: skip
        slots = [self._slot(site, day) for day in days]
        maintenance_at = slots[induction][0] - timedelta(days=2) if phase == "maintenance" else None
        w.add(
            T_COURSE,
            (course_id, pid, indication, protocol.pk, instrument, phase, course_at,
             maintenance_at or course_at, 0, prescriber.pk, course_at, maintenance_at or course_at),
        )  # fmt: skip
        self._event(
            events, at=course_at, actor=prescriber, action=AuditAction.CREATE, patient_id=pid,
            obj=TreatmentCourse, obj_id=course_id, event="course_start", protocol=protocol.key,
        )  # fmt: skip
        w.add(
            T_DECISION,
            (course_id, "", "induction", "Course started (PROT-10).", "", [], {}, 0,
             prescriber.pk, course_at),
        )  # fmt: skip
        if maintenance_at is not None:
            w.add(
                T_DECISION,
                (course_id, "induction", "maintenance",
                 "Response after induction (PROT-21): maintenance (PROT-30).", "maintenance",
                 ["PROT-21", "PROT-30"], {}, 0, prescriber.pk, maintenance_at),
            )  # fmt: skip

        orders = [self._order(events, pid, course_id, indication, protocol, sex, weight,
                              height, "induction", course_at)]  # fmt: skip
        if maintenance_at is not None:
            weight2 = weight + Decimal(rng.randrange(-30, 31)) / 10
            orders.append(
                self._order(events, pid, course_id, indication, protocol, sex, weight2, height,
                            "maintenance", maintenance_at)
            )  # fmt: skip

        spec_id, spec = c.instruments[instrument]
        baseline = rng.uniform(0.55, 0.9)
        level = baseline
        self._assessment(events, pid, spec_id, spec, instrument, level, consult_at)
        for i, (start, chair) in enumerate(slots):
            order_id, dose_mg = orders[0] if i < induction else orders[-1]
            self._infusion(events, draws, visits, site, site_no, pid, course_id,
                                 order_id, dose_mg, start, chair)  # fmt: skip
            if i % 2 == 1:
                level *= rng.uniform(0.75, 1.0)
                self._assessment(events, pid, spec_id, spec, instrument, level,
                                 start - timedelta(minutes=15))  # fmt: skip
        recent = self.recent[site_no]
        if len(recent) < IN_PROGRESS_PER_LOCATION:
            recent.append((pid, orders[-1][0]))

    def _order(  # noqa: PLR0913
        self,
        events: list[BulkEvent],
        pid: int,
        course_id: int,
        indication: str,
        protocol: Protocol,
        sex: str,
        weight: Decimal,
        height: Decimal,
        phase: str,
        at: datetime,
    ) -> tuple[int, Decimal]:
        """A signed standing order with the calculator's numbers (DOSE-1 mg/kg from the protocol,
        DOSE-U4 dose, DOSE-U6 rate) on a weight measured that day (WT-8)."""
        c = self.clinic
        measurement = self.ids[BodyMeasurement].take()
        self.writer.add(
            T_MEASURE,
            (measurement, pid, "weight", weight, weight, "kg", at.date(), c.nurse.pk,
             at - timedelta(minutes=20)),
        )  # fmt: skip
        oid = self.ids[DosingOrder].take()
        per_kg = protocol.default_dose_mg_per_kg or Decimal("0.5")
        duration = protocol.default_duration_min
        concentration = protocol.default_concentration_mg_per_ml
        dose = _q(weight * per_kg)
        volume = _q(dose / concentration)
        rate = _q(volume * 60 / duration)
        bmi = _q(weight / (height / 100) ** 2)
        signed = at + timedelta(minutes=5, microseconds=int(self.rng.random() * 1_000_000))
        self.writer.add(
            T_ORDER,
            (oid, pid, course_id, oid, 1, "signed", "standing", phase, indication, "actual",
             sex, weight, measurement, at.date(), height, bmi, weight, per_kg, duration,
             concentration, dose, volume, rate, [], ["DOSE-1", "WT-1"], False, "", "", "",
             c.prescriber.pk, at, c.prescriber.pk, signed, "password"),
        )  # fmt: skip
        self._event(
            events, at=signed, actor=c.prescriber, action=AuditAction.UPDATE, patient_id=pid,
            obj=DosingOrder, obj_id=oid, event="sign", method="password",
        )  # fmt: skip
        return oid, dose

    def _infusion(  # noqa: PLR0913
        self,
        events: list[BulkEvent],
        draws: list[Draw],
        visits: list[Visit],
        site: Site,
        site_no: int,
        pid: int,
        course_id: int,
        order_id: int,
        dose_mg: Decimal,
        start: datetime,
        chair: int,
    ) -> None:
        """One completed infusion: appointment, session, pump start/stop, vitals, invoice with its
        line and payment are derived from the `Visit` (`_visits_write`); the CS-31 draw and the
        discharge's audit event are made here."""
        rng = self.rng
        checked_in = start + timedelta(minutes=5, microseconds=int(rng.random() * 1_000_000))
        discharged = checked_in + timedelta(minutes=100, microseconds=int(rng.random() * 1_000_000))
        escort = rng.choice(ESCORTS)
        sid = self.ids[InfusionSession].take()
        visits.append(
            Visit(
                self.ids[Appointment].take(), sid, self.ids[Invoice].take(), pid,
                site.location.pk, chair, course_id, order_id, start, checked_in, discharged,
                escort, f"+1555{int(rng.random() * 10**7):07d}", start.astimezone(site.tz).date(),
                site.price_id,
            )
        )  # fmt: skip
        self._event(
            events, at=discharged, actor=self.clinic.nurse, action=AuditAction.UPDATE,
            patient_id=pid, obj=InfusionSession, obj_id=sid, session=sid, event="discharge",
            escort=escort,
        )  # fmt: skip
        draws.append(
            Draw(site_no, checked_in + PUMP_START - timedelta(minutes=12),
                 _q(dose_mg / VIAL_MG_PER_ML, "0.01"), order_id, pid, sid)
        )  # fmt: skip

    def _assessment(  # noqa: PLR0913
        self,
        events: list[BulkEvent],
        pid: int,
        spec_id: int,
        spec: InstrumentSpec,
        code: str,
        level: float,
        at: datetime,
    ) -> None:
        """A submitted self-report scored as outcomes.scoring scores it (SCALE-1), with no answer
        at or above an alert rule's value (SCALE-4 would otherwise owe a SafetyAlert)."""
        rng = self.rng
        choices = self._answer_choices.get(spec_id)
        if choices is None:
            alert_items = {a.item: a.min_value for a in spec.alerts}
            choices = []
            for item in spec.items:
                values = sorted(item.values)
                if item.number in alert_items:
                    values = [v for v in values if v < alert_items[item.number]] or values[:1]
                choices.append(values)
            self._answer_choices[spec_id] = choices
        answers = []
        for values in choices:
            top = len(values) - 1
            index = round(level * top) + int(rng.random() * 3) - 1
            answers.append(values[0 if index < 0 else top if index > top else index])
        total = sum(answers)
        band = spec.band_for(total)
        aid = self.ids[Assessment].take()
        submitted = at + timedelta(minutes=8, microseconds=int(rng.random() * 1_000_000))
        severity = band.label if band else ""
        self.writer.add(
            T_ASSESSMENT,
            (aid, pid, spec_id, "submitted", answers, total, severity, submitted, submitted,
             "self", "en", None, at, submitted),
        )  # fmt: skip
        self._event(
            events, at=submitted, actor=self.clinic.nurse, action=AuditAction.CREATE,
            patient_id=pid, obj=Assessment, obj_id=aid, instrument=code, total=total,
            severity=severity,
        )  # fmt: skip

    # --- helpers ------------------------------------------------------------------------

    def _mrn(self) -> str:
        # MRNs are random (patients.services._new_mrn); at this volume draws collide.
        while (mrn := _new_mrn()) in self.mrns:
            continue
        self.mrns.add(mrn)
        return mrn

    def _local(self, site: Site, day: date, at: dtime, rng: random.Random) -> datetime:
        local = datetime.combine(day, at, tzinfo=site.tz)
        return local.astimezone(UTC) + timedelta(microseconds=int(rng.random() * 1_000_000))

    def _slot(self, site: Site, day: date) -> tuple[datetime, int]:
        """The next free chair slot at the site on `day` or the next open day: a day's k-th
        infusion takes chair k // slots, slot k % slots, so no chair holds two at once."""
        capacity = len(site.chairs) * SLOTS_PER_CHAIR_DAY
        while day.weekday() == 6 or site.day_load.get(day, 0) >= capacity:
            day += timedelta(days=1)
        k = site.day_load.get(day, 0)
        site.day_load[day] = k + 1
        chair = site.chairs[k // SLOTS_PER_CHAIR_DAY]
        local = datetime.combine(day, OPEN_AT, tzinfo=site.tz) + SLOT * (k % SLOTS_PER_CHAIR_DAY)
        return local.astimezone(UTC), chair

    def _ledger(self, draws: list[Draw], chunk_no: int) -> None:
        """CS-31 draws of the chunk, per site and quarter in a lot of their own, in the order they
        happened; a receipt of ten vials (CS-30) comes in whenever the next draw would take the
        balance below zero (CS-41), so every balance is the running sum of its lot's entries."""
        c, w = self.clinic, self.writer
        by_lot: dict[tuple[int, int, int], list[Draw]] = defaultdict(list)
        for d in draws:
            by_lot[(d.site, d.at.year, (d.at.month - 1) // 3)].append(d)
        for (site_no, year, quarter), lot_draws in sorted(by_lot.items()):
            lot_draws.sort(key=lambda d: d.at)
            site = c.sites[site_no]
            lot_id = self.ids[Lot].take()
            first = lot_draws[0].at - timedelta(days=1)
            # The lot's own pre-allocated id keeps its number unique across runs, however close.
            number = f"S{lot_id}-{year}Q{quarter + 1}"
            w.add(
                T_LOT,
                (lot_id, c.product.pk, site.location.pk, number, date(year + 2, 1, 1),
                 "Cabinet A", first),
            )  # fmt: skip
            balance, seq, last = Decimal("0.00"), 0, first
            for d in lot_draws:
                if balance < d.qty_ml:
                    seq += 1
                    balance += RECEIPT_ML
                    at = max(last, d.at - timedelta(hours=1))
                    w.add(
                        T_LEDGER,
                        (lot_id, seq, "receipt", RECEIPT_ML, VIAL_MG_PER_ML,
                         RECEIPT_ML * VIAL_MG_PER_ML, RECEIPT_ML, balance, at, at, c.nurse.pk,
                         None, None, "Scale Pharma Supply", "RS1234563", f"PO-{lot_id}-{seq}", "",
                         None),
                    )  # fmt: skip
                seq += 1
                balance -= d.qty_ml
                last = d.at
                w.add(
                    T_LEDGER,
                    (lot_id, seq, "draw", d.qty_ml, VIAL_MG_PER_ML, d.qty_ml * VIAL_MG_PER_ML,
                     -d.qty_ml, balance, d.at, d.at, c.nurse.pk, d.order_id, d.patient_id, "",
                     "", "", "", d.session_id),
                )  # fmt: skip

    def _visits_write(self, visits: list[Visit]) -> None:
        """Appointments, sessions, pump events, vital signs, invoices, lines and payments of the
        chunk's visits. Vital signs: 10 per session inside the monitoring thresholds
        (monitoring.md §3, so no alert is owed): systolic 112-135, diastolic 68-84 (a rise from
        baseline below MON-BP-4's), heart rate 62-95, SpO2 95-100 %, respiratory rate 12-18,
        MOAA/S 4-5 and dissociation 0-2 while infusing."""
        if self.writer.postgres:
            self._visits_sql(visits)
            return
        c, w, rng = self.clinic, self.writer, self.rng
        nurse, desk = c.nurse.pk, c.desk.pk
        for v in visits:
            w.add(
                T_APPOINTMENT,
                (v.aid, v.pid, v.location_id, v.chair_id, "infusion", v.starts_at,
                 v.starts_at + APPOINTMENT_LENGTH, "completed", v.course_id, "", v.discharged_at,
                 False, desk, v.starts_at - timedelta(days=1), v.escort, v.phone,
                 v.starts_at - timedelta(days=10), v.discharged_at),
            )  # fmt: skip
            pump_start, pump_stop = v.checked_in_at + PUMP_START, v.checked_in_at + PUMP_STOP
            w.add(
                T_SESSION,
                (v.sid, v.pid, v.location_id, v.aid, v.order_id, v.starts_at, "discharged", "",
                 v.checked_in_at, True, v.escort, v.phone, "", pump_stop, v.discharged_at,
                 v.escort, nurse, nurse, v.checked_in_at),
            )  # fmt: skip
            w.add(T_PUMP, (v.sid, "start", pump_start, "", nurse))
            w.add(T_PUMP, (v.sid, "stop", pump_stop, "", nurse))
            for phase, minutes in VITAL_SCHEDULE:
                at = v.checked_in_at + timedelta(minutes=minutes)
                infusing = phase == "infusion"
                w.add(
                    T_VITAL,
                    (v.sid, phase, at, rng.randint(112, 135), rng.randint(68, 84),
                     rng.randint(62, 95), rng.randint(95, 100), rng.randint(12, 18),
                     rng.randint(4, 5) if infusing else None,
                     rng.randint(0, 2) if infusing else None, nurse, at + timedelta(seconds=30)),
                )  # fmt: skip
            w.add(
                T_INVOICE,
                (v.iid, v.pid, v.location_id, v.aid, v.sid, "issued", v.date_of_service,
                 pump_start, pump_stop, PUMP_STOP - PUMP_START, c.prescriber.pk,
                 Decimal("0.00"), "USD", desk,
                 v.discharged_at, v.discharged_at),
            )  # fmt: skip
            w.add(
                T_LINE,
                (v.iid, c.service.pk, c.service.code, c.service.label, 1, INFUSION_PRICE,
                 v.price_id),
            )  # fmt: skip
            w.add(
                T_PAYMENT,
                (v.iid, "payment", "card", INFUSION_PRICE, "manual", f"SEED-{v.iid}", "", desk,
                 v.discharged_at + timedelta(minutes=3)),
            )  # fmt: skip
        w.flush()

    def _visits_sql(self, visits: list[Visit]) -> None:
        """PostgreSQL: the visits go into a temporary table with one COPY; each table's rows are
        then made from it by one INSERT ... SELECT, in the database."""
        c, w = self.clinic, self.writer
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMP TABLE IF NOT EXISTS seed_visit (aid bigint, sid bigint, iid bigint,"
                " pid bigint, location_id bigint, chair_id bigint, course_id bigint,"
                " order_id bigint, starts_at timestamptz, checked_in_at timestamptz,"
                " discharged_at timestamptz, escort text, phone text, date_of_service date,"
                " price_id bigint) ON COMMIT DELETE ROWS"
            )
            with cursor.cursor.copy("COPY seed_visit FROM STDIN") as copy:
                copy.write(
                    "".join(
                        f"{v.aid}\t{v.sid}\t{v.iid}\t{v.pid}\t{v.location_id}\t{v.chair_id}\t"
                        f"{v.course_id}\t{v.order_id}\t{v.starts_at.isoformat()}\t"
                        f"{v.checked_in_at.isoformat()}\t{v.discharged_at.isoformat()}\t"
                        f"{v.escort}\t{v.phone}\t{v.date_of_service.isoformat()}\t{v.price_id}\n"
                        for v in visits
                    )
                )
            w.timed("write seed_visit (staging)", time.perf_counter() - started)
            minutes = "interval '1 minute'"
            start, stop = (
                f"v.checked_in_at + {PUMP_START_MIN} * {minutes}",
                (f"v.checked_in_at + {PUMP_STOP_MIN} * {minutes}"),
            )
            nurse, desk, prescriber = c.nurse.pk, c.desk.pk, c.prescriber.pk
            length = int(APPOINTMENT_LENGTH.total_seconds() // 60)
            schedule = ", ".join(f"('{p}', {m})" for p, m in VITAL_SCHEDULE)
            statements = [
                (T_APPOINTMENT, {
                    "id": "v.aid", "patient_id": "v.pid", "location_id": "v.location_id",
                    "chair_id": "v.chair_id", "kind": "'infusion'", "starts_at": "v.starts_at",
                    "ends_at": f"v.starts_at + {length} * {minutes}", "status": "'completed'",
                    "course_id": "v.course_id", "status_reason": "''",
                    "status_changed_at": "v.discharged_at", "late_cancellation": "false",
                    "booked_by_id": desk, "safety_confirmed_at": "v.starts_at - interval '1 day'",
                    "escort_name": "v.escort", "escort_phone": "v.phone",
                    "created_at": "v.starts_at - interval '10 days'",
                    "updated_at": "v.discharged_at",
                }, ""),
                (T_SESSION, {
                    "id": "v.sid", "patient_id": "v.pid", "location_id": "v.location_id",
                    "appointment_id": "v.aid", "order_id": "v.order_id",
                    "scheduled_at": "v.starts_at", "state": "'discharged'", "state_reason": "''",
                    "checked_in_at": "v.checked_in_at", "identity_confirmed": "true",
                    "escort_name": "v.escort", "escort_phone": "v.phone",
                    "bp_override_reason": "''", "infusion_ended_at": stop,
                    "discharged_at": "v.discharged_at", "discharged_to_escort": "v.escort",
                    "discharged_by_id": nurse, "created_by_id": nurse,
                    "created_at": "v.checked_in_at",
                }, ""),
                (T_PUMP, {
                    "session_id": "v.sid", "action": "p.action",
                    "at": f"v.checked_in_at + p.minutes * {minutes}", "reason": "''",
                    "actor_id": nurse,
                }, f"CROSS JOIN (VALUES ('start', {PUMP_START_MIN}), ('stop', {PUMP_STOP_MIN}))"
                   " AS p(action, minutes)"),
                (T_VITAL, {
                    "session_id": "v.sid", "phase": "k.phase",
                    "taken_at": f"v.checked_in_at + k.minutes * {minutes}",
                    "systolic_mmhg": "112 + floor(random() * 24)::int",
                    "diastolic_mmhg": "68 + floor(random() * 17)::int",
                    "heart_rate_bpm": "62 + floor(random() * 34)::int",
                    "spo2_pct": "95 + floor(random() * 6)::int",
                    "respiratory_rate": "12 + floor(random() * 7)::int",
                    "sedation": "CASE WHEN k.phase = 'infusion' THEN 4 + floor(random() * 2)::int"
                                " END",
                    "dissociation": "CASE WHEN k.phase = 'infusion' THEN floor(random() * 3)::int"
                                    " END",
                    "recorded_by_id": nurse,
                    "created_at": f"v.checked_in_at + k.minutes * {minutes} + interval '30 s'",
                }, f"CROSS JOIN (VALUES {schedule}) AS k(phase, minutes)"),
                (T_INVOICE, {
                    "id": "v.iid", "patient_id": "v.pid", "location_id": "v.location_id",
                    "appointment_id": "v.aid", "infusion_session_id": "v.sid",
                    "status": "'issued'", "date_of_service": "v.date_of_service",
                    "infusion_started_at": start, "infusion_stopped_at": stop,
                    "infusion_running": f"{PUMP_STOP_MIN - PUMP_START_MIN} * {minutes}",
                    "rendering_provider_id": prescriber, "package_credit": "0",
                    "currency": "'USD'", "created_by_id": desk, "created_at": "v.discharged_at",
                    "updated_at": "v.discharged_at",
                }, ""),
                (T_LINE, {
                    "invoice_id": "v.iid", "service_id": c.service.pk,
                    "code": _sql_text(c.service.code), "label": _sql_text(c.service.label),
                    "units": "1", "unit_price": str(INFUSION_PRICE), "price_id": "v.price_id",
                }, ""),
                (T_PAYMENT, {
                    "invoice_id": "v.iid", "kind": "'payment'", "method": "'card'",
                    "amount": str(INFUSION_PRICE), "provider": "'manual'",
                    "reference": "'SEED-' || v.iid", "note": "''", "recorded_by_id": desk,
                    "recorded_at": "v.discharged_at + interval '3 minutes'",
                }, ""),
            ]  # fmt: skip
            for table, exprs, join in statements:
                started = time.perf_counter()
                cursor.execute(table.insert_select(exprs, "seed_visit v " + join))
                w.counted(table.model._meta.label, cursor.rowcount)
                w.timed("write " + table.model._meta.label, time.perf_counter() - started)
            cursor.execute("TRUNCATE seed_visit")

    # --- today ----------------------------------------------------------------------------

    def in_progress_today(self, now: datetime) -> int:
        """A few sessions per location infusing right now, on chairs with no booked appointment
        overlapping (the exclusion constraint of scheduling migration 0002)."""
        c, events, made = self.clinic, [], 0
        start = now - timedelta(minutes=40)
        end = start + APPOINTMENT_LENGTH
        with transaction.atomic():
            for site_no, site in enumerate(c.sites):
                busy = set(
                    Appointment.objects.filter(
                        location=site.location, status="booked", starts_at__lt=end,
                        ends_at__gt=start, chair__isnull=False,
                    ).values_list("chair_id", flat=True)
                )  # fmt: skip
                free = [ch for ch in reversed(site.chairs) if ch not in busy]
                for (pid, order_id), chair in zip(self.recent[site_no], free, strict=False):
                    made += self._in_progress(events, site, pid, order_id, chair, start, end)
            self.writer.counted(
                AuditEvent._meta.label, audit_chain_extend(events, write=self._write_events)
            )
        self.writer.counts[Appointment._meta.label] += made
        self.writer.counts[InfusionSession._meta.label] += made
        return made

    def _in_progress(self, events, site, pid, order_id, chair, start, end) -> int:  # type: ignore[no-untyped-def]  # noqa: PLR0913
        c, rng = self.clinic, self.rng
        escort = rng.choice(ESCORTS)
        phone = f"+1555{int(rng.random() * 10**7):07d}"
        appointment = Appointment.objects.create(
            patient_id=pid, location=site.location, chair_id=chair, kind="infusion",
            starts_at=start, ends_at=end, status="booked", booked_by=c.desk,
            safety_confirmed_at=start - timedelta(days=1), escort_name=escort,
            escort_phone=phone,
        )  # fmt: skip
        checked_in = start + timedelta(minutes=5)
        session = InfusionSession.objects.create(
            patient_id=pid, location=site.location, appointment=appointment, order_id=order_id,
            scheduled_at=start, state="infusing", checked_in_at=checked_in,
            identity_confirmed=True, escort_name=escort, escort_phone=phone, created_by=c.nurse,
        )  # fmt: skip
        PumpEvent.objects.create(
            session=session, action="start", at=checked_in + timedelta(minutes=18), actor=c.nurse
        )
        VitalSign.objects.bulk_create(
            [
                VitalSign(
                    session=session, phase=phase, taken_at=checked_in + timedelta(minutes=m),
                    systolic_mmhg=rng.randint(112, 135), diastolic_mmhg=rng.randint(68, 84),
                    heart_rate_bpm=rng.randint(62, 95), spo2_pct=rng.randint(95, 100),
                    respiratory_rate=rng.randint(12, 18),
                    sedation=4 if phase == "infusion" else None,
                    dissociation=1 if phase == "infusion" else None, recorded_by=c.nurse,
                )
                for phase, m in VITAL_SCHEDULE[:3]
            ]
        )  # fmt: skip
        self.writer.counts[VitalSign._meta.label] += 3
        self._event(
            events, at=checked_in + timedelta(minutes=18), actor=c.nurse,
            action=AuditAction.UPDATE, patient_id=pid, obj=InfusionSession, obj_id=session.pk,
            session=session.pk, event="start",
        )  # fmt: skip
        return 1


def _fast_triggers() -> None:
    """Skip the per-row foreign-key triggers for this chunk's transaction (superuser only): the
    generator writes only keys it has just allocated or read. Other connections are unaffected."""
    with connection.cursor() as cursor:
        # A chunk lost to a crash is simply not there: no need to wait for the disk at commit.
        cursor.execute("SET LOCAL synchronous_commit = off")
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if cursor.fetchone()[0]:
            cursor.execute("SET LOCAL session_replication_role = replica")


def _backend_cpu_seconds() -> float | None:
    """CPU time of this connection's PostgreSQL backend, when the server runs on this machine
    (for the report: where the time went). None when it cannot be read."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# The tables that take millions of rows: their secondary indexes are what --rebuild-indexes drops.
BIG_TABLES = [T_VITAL, T_AUDIT, T_APPOINTMENT, T_SESSION, T_PUMP, T_INVOICE, T_LINE, T_PAYMENT,
              T_LEDGER, T_ASSESSMENT]  # fmt: skip


def _secondary_indexes() -> list[tuple[str, str]]:
    """(name, definition) of the big tables' indexes that enforce nothing: not unique, not a
    primary key, not behind a constraint (the exclusion constraints on chairs stay)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisunique"
            " AND NOT i.indisprimary"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)"
            " ORDER BY 1",
            [[t.db_table for t in BIG_TABLES]],
        )
        return list(cursor.fetchall())


@contextlib.contextmanager
def _indexes_dropped(out: Callable[[str], None]) -> Iterator[None]:
    """Drop the secondary indexes for the load and build them again after it (a sorted build is
    cheaper than millions of single inserts), also when the load fails."""
    indexes = _secondary_indexes()
    with transaction.atomic(), connection.cursor() as cursor:
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
    try:
        yield
    finally:
        out(f"building {len(indexes)} indexes again")
        _indexes_build(indexes, out)


def _indexes_build(indexes: list[tuple[str, str]], out: Callable[[str], None]) -> None:
    """CREATE INDEX for each definition, WRITERS at a time (each thread its own connection, taking
    the next index when it is done); every failure is named, the first raised."""
    pending: queue.Queue[tuple[str, str]] = queue.Queue()
    for item in indexes:
        pending.put(item)
    failures: list[BaseException] = []

    def build() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET maintenance_work_mem = '256MB'")
                while True:
                    try:
                        name, definition = pending.get_nowait()
                    except queue.Empty:
                        return
                    try:
                        cursor.execute(definition)
                    except Exception as exc:  # noqa: BLE001 - named, then raised by the caller
                        out(f"could not rebuild {name}; run: {definition}")
                        failures.append(exc)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=build, name=f"seed_scale-index-{n}") for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


class _Pipeline:
    """Writer threads (each its own connection and transaction per chunk) fed through a queue;
    the first error is raised here. Two writers let PostgreSQL work on one chunk while it takes
    in the next: with one, the writer alternated between its own Python (formatting, sealing)
    and waiting for the database, and wall time was close to the sum of both CPU times. Chunks
    may commit out of order; their audit events are sealed in the order their writers take the
    chain head, which `verify_audit` accepts like any other order of commits."""

    def __init__(self, store: Callable[[Batch], None], writers: int = WRITERS) -> None:
        self.store = store
        self.queue: queue.Queue[Batch | None] = queue.Queue(maxsize=writers + 1)
        self.errors: list[BaseException] = []
        self.backend_cpu: float | None = 0.0
        self._lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._work, name=f"seed_scale-writer-{n}", daemon=True)
            for n in range(writers)
        ]
        for thread in self.threads:
            thread.start()

    def _work(self) -> None:
        try:
            while (batch := self.queue.get()) is not None:
                if not self.errors:
                    try:
                        self.store(batch)
                    except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
                        self.errors.append(exc)
        finally:
            cpu = None
            with contextlib.suppress(Exception):
                cpu = _backend_cpu_seconds()
            with self._lock:
                self.backend_cpu = (
                    None if cpu is None or self.backend_cpu is None else (self.backend_cpu + cpu)
                )
            connection.close()  # this thread's own connection

    def put(self, batch: Batch) -> None:
        if self.errors:
            raise self.errors[0]
        self.queue.put(batch)

    def close(self) -> None:
        for _ in self.threads:
            self.queue.put(None)
        for thread in self.threads:
            thread.join()
        if self.errors:
            raise self.errors[0]


def seed(
    *,
    patients: int,
    seed: int,
    out: Callable[[str], None],
    today: date | None = None,
    rebuild_indexes: bool = False,
) -> dict[str, Any]:
    """Write `patients` patients and everything they come with. Returns rows per table and
    seconds per phase."""
    phases: dict[str, float] = {}
    started = time.perf_counter()
    cpu_started = time.process_time()
    now = timezone.now()
    today = today or timezone.localdate()
    clinic = clinic_prepare(patients=patients)
    generator = Generator(clinic, seed=seed, today=today)
    phases["prepare"] = time.perf_counter() - started
    mark = time.perf_counter()
    # On PostgreSQL outside a transaction a second thread (its own connection) writes chunk k
    # while this one generates chunk k+1: Python and the database work at the same time.
    pipeline = connection.vendor == "postgresql" and not connection.in_atomic_block
    dropped = _indexes_dropped(out) if rebuild_indexes and pipeline else contextlib.nullcontext()
    with dropped:
        _load(generator, patients, pipeline, started, out)
    phases["chunks (generate + write)"] = time.perf_counter() - mark
    mark = time.perf_counter()
    generator.in_progress_today(now)
    phases["in progress today"] = time.perf_counter() - mark
    if connection.vendor == "postgresql":
        mark = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        phases["ANALYZE"] = time.perf_counter() - mark
    phases["total"] = time.perf_counter() - started
    cpu = {"this process (Python)": time.process_time() - cpu_started}
    if connection.vendor == "postgresql":
        backend = _backend_cpu_seconds()
        if backend is not None and generator.writer_backend_cpu is not None:
            cpu["PostgreSQL backends"] = backend + generator.writer_backend_cpu
    return {
        "rows": dict(sorted(generator.writer.counts.items())),
        "phases": phases,
        "write_seconds": dict(sorted(generator.writer.seconds.items())),
        "cpu_seconds": cpu,
    }


def _load(
    generator: Generator, patients: int, pipeline: bool, started: float, out: Callable[[str], None]
) -> None:
    store = _Pipeline(generator.store) if pipeline else None
    done, chunk_no = 0, 0
    try:
        while done < patients:
            size = min(CHUNK, patients - done)
            chunk_no += 1
            batch = generator.chunk(size, chunk_no)
            if store is not None:
                store.put(batch)
            else:
                generator.store(batch)
            done += size
            out(f"{done}/{patients} patients, {time.perf_counter() - started:.0f} s")
    finally:
        if store is not None:
            store.close()
            generator.writer_backend_cpu = store.backend_cpu
