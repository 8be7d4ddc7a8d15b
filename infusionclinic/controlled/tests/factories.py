"""Builders for controlled-substance tests."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

from infusionclinic.accounts.models import Location, User
from infusionclinic.controlled import services
from infusionclinic.controlled.models import LedgerEntry, Product
from infusionclinic.dosing import services as dosing_services
from infusionclinic.dosing.models import DosingOrder
from infusionclinic.dosing.tests.factories import STANDARD
from tests.factories import PASSWORD


def product(ndc: str = "42023-113-10", strength: str = "50", container: str = "10") -> Product:
    """§8's worked example: 50 mg/mL × 10 mL vials (CS-22)."""
    return services.product_get_or_create(
        ndc=ndc,
        name="Ketamine HCl injection",
        strength_mg_per_ml=Decimal(strength),
        container_ml=Decimal(container),
    )


def signed_order(patient, prescriber: User, *, open_session: bool = True) -> DosingOrder:
    """A signed order; with `open_session`, its infusion session checked in at the patient's
    location: the open encounter a draw needs (CS-42)."""
    draft = dosing_services.dosing_order_create(actor=prescriber, patient=patient, **STANDARD)
    order = dosing_services.dosing_order_sign(actor=prescriber, order=draft, password=PASSWORD)
    if open_session:
        open_encounter(prescriber, order)
    return order


def open_encounter(actor: User, order: DosingOrder):  # type: ignore[no-untyped-def]
    from infusionclinic.infusions import services as infusions

    session = infusions.session_create(
        actor=actor,
        patient=order.patient,
        order=order,
        location=order.patient.home_location,
        scheduled_at=timezone.now(),
    )
    return infusions.session_check_in(
        actor=actor,
        session=session,
        identity_confirmed=True,
        escort_name="Alex Escort",
        escort_phone="555-010-0199",
    )


def receive(
    actor: User,
    location: Location,
    prod: Product,
    containers: int = 1,
    lot_number: str = "L123",
    expiry: date | None = None,
) -> LedgerEntry:
    return services.receipt_record(
        actor=actor,
        location=location,
        product=prod,
        lot_number=lot_number,
        expiry=expiry or timezone.localdate() + timedelta(days=365),
        containers=containers,
        supplier="Example Wholesale",
        invoice_number="INV-1",
    )
