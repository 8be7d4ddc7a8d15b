from datetime import date, datetime
from decimal import Decimal

from ninja import Schema
from pydantic import ConfigDict, Field

from .fields import EdgeDate, EdgeDecimal, Id


class ErrorOut(Schema):
    message: str
    errors: dict[str, list[str]] = Field(default_factory=dict)


class HealthOut(Schema):
    status: str


class LocationOut(Schema):
    code: str
    name: str
    timezone: str


class Quantity(Schema):
    """A measurement with its unit, e.g. {"value": 154, "unit": "lb"}."""

    model_config = ConfigDict(extra="forbid")
    value: EdgeDecimal
    unit: str


class ReferringProviderIn(Schema):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=200)
    practice: str = Field("", max_length=200)
    phone: str = Field("", max_length=32)
    email: str = Field("", max_length=254)
    npi: str = Field("", max_length=10)


class ReferringProviderOut(Schema):
    name: str
    practice: str
    phone: str
    email: str
    npi: str


class _Demographics(Schema):
    model_config = ConfigDict(extra="forbid")
    preferred_name: str = Field("", max_length=100)
    gender_identity: str = Field("", max_length=100)
    email: str = Field("", max_length=254)
    phone: str = Field("", max_length=32)
    address_line1: str = Field("", max_length=200)
    address_line2: str = Field("", max_length=200)
    city: str = Field("", max_length=100)
    region: str = Field("", max_length=100)
    postal_code: str = Field("", max_length=20)
    country: str = Field("US", max_length=2)
    emergency_contact_name: str = Field("", max_length=200)
    emergency_contact_phone: str = Field("", max_length=32)
    emergency_contact_relationship: str = Field("", max_length=100)


class PatientIn(_Demographics):
    given_name: str = Field(max_length=100)
    family_name: str = Field(max_length=100)
    birth_date: EdgeDate
    sex_at_birth: str
    location: str = Field(description="Location code, one of GET /locations")
    weight_kg: EdgeDecimal | None = Field(None, description="Body weight in kg")
    height_cm: EdgeDecimal | None = Field(None, description="Height in cm")
    weight: Quantity | None = Field(None, description="Weight with unit kg or lb")
    height: Quantity | None = Field(None, description="Height with unit cm or in")
    referring_provider: ReferringProviderIn | None = None


class PatientPatch(Schema):
    model_config = ConfigDict(extra="forbid")
    version: Id = Field(
        description="The version you read (required); a stale version answers 409, nothing changed"
    )
    given_name: str | None = Field(None, max_length=100)
    family_name: str | None = Field(None, max_length=100)
    preferred_name: str | None = Field(None, max_length=100)
    birth_date: EdgeDate | None = None
    sex_at_birth: str | None = None
    gender_identity: str | None = Field(None, max_length=100)
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=32)
    address_line1: str | None = Field(None, max_length=200)
    address_line2: str | None = Field(None, max_length=200)
    city: str | None = Field(None, max_length=100)
    region: str | None = Field(None, max_length=100)
    postal_code: str | None = Field(None, max_length=20)
    country: str | None = Field(None, max_length=2)
    emergency_contact_name: str | None = Field(None, max_length=200)
    emergency_contact_phone: str | None = Field(None, max_length=32)
    emergency_contact_relationship: str | None = Field(None, max_length=100)


class PatientSummaryOut(Schema):
    id: int
    mrn: str
    given_name: str
    family_name: str
    preferred_name: str
    birth_date: date
    location: str


class MeasurementOut(Schema):
    value: Decimal
    unit: str
    measured_on: date


class PatientOut(PatientSummaryOut):
    sex_at_birth: str
    gender_identity: str
    email: str
    phone: str
    address_line1: str
    address_line2: str
    city: str
    region: str
    postal_code: str
    country: str
    emergency_contact_name: str
    emergency_contact_phone: str
    emergency_contact_relationship: str
    referring_provider: ReferringProviderOut | None
    weight: MeasurementOut | None = Field(None, description="Latest weight in kg")
    height: MeasurementOut | None = Field(None, description="Latest height in cm")
    version: int


class VitalsSetOut(Schema):
    """One set of vital signs taken in an infusion session (monitoring.md), units in the names."""

    id: int
    session_id: int
    phase: str = Field(description="pre, infusion or recovery")
    taken_at: datetime
    systolic_mmhg: int
    diastolic_mmhg: int
    heart_rate_bpm: int
    spo2_pct: int
    respiratory_rate: int = Field(description="Breaths per minute")
    sedation: int | None = Field(None, description="MOAA/S 0-5 (MON-3)")
    dissociation: int | None = Field(None, description="0-3 (MON-CADSS)")


class ChartOut(Schema):
    patient: PatientOut
    vitals: list[VitalsSetOut] | None = Field(
        description=(
            "The latest 20 vitals sets over all the patient's infusion sessions, newest first; "
            "null for a role that does not see clinical data (front desk)"
        )
    )
