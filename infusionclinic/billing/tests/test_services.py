"""Billing rules: price list in force, invoice and balance arithmetic, packages, payments and
refunds, CODE-PX-R1 timed codes, audit of every write."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import ProtectedError
from hypothesis import given, settings
from hypothesis import strategies as st

from infusionclinic.audit.models import AuditEvent
from infusionclinic.billing import services
from infusionclinic.billing.models import Invoice, PaymentKind
from infusionclinic.billing.money import balance_due, cents, invoice_total, line_amount
from infusionclinic.billing.selectors import (
    invoice_figures,
    invoice_pump_basis,
    package_sessions_left,
)
from infusionclinic.billing.services import LineInput
from tests.factories import PatientFactory, make_user

from .factories import (
    VALID_NPI,
    billing_provider,
    completed_appointment,
    infusion_session,
    package_plan,
    price,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk(location):
    return make_user("front_desk", location)


@pytest.fixture
def patient(location):
    return PatientFactory(home_location=location)


@pytest.fixture
def prices(location):
    return {
        "96365": price(location, "96365", "400.00"),
        "J3490": price(location, "J3490", "35.50"),
        "90791": price(location, "90791", "250.00"),
    }


def _invoice(desk, patient, location, lines, **kwargs):
    """An invoice of a completed infusion (45 min of pump time: 96365 x 1 is added) or of the
    kind given, with the other services in `lines`."""
    appointment = completed_appointment(patient, location, **kwargs)
    return services.invoice_create(
        actor=desk,
        appointment=appointment,
        lines=[LineInput(code, units) for code, units in lines],
    )


# --- arithmetic (pure) ------------------------------------------------------------------------


def test_cents_round_half_up_and_refuse_float():
    assert cents(Decimal("0.005")) == Decimal("0.01")
    assert cents(Decimal("2.345")) == Decimal("2.35")
    assert cents(Decimal("-0.005")) == Decimal("-0.01")
    with pytest.raises(TypeError):
        cents(0.1)  # type: ignore[arg-type]


money = st.decimals(min_value=Decimal("0"), max_value=Decimal("99999.99"), places=2)


@settings(max_examples=50, deadline=None)
@given(
    lines=st.lists(st.tuples(st.integers(1, 24), money), min_size=1, max_size=6),
    credit=money,
    paid_fraction=st.integers(0, 100),
    refund_fraction=st.integers(0, 100),
)
def test_totals_and_balance_never_negative(lines, credit, paid_fraction, refund_fraction):
    amounts = [line_amount(units=u, unit_price=p) for u, p in lines]
    total = invoice_total(line_amounts=amounts, package_credit=credit)
    assert total >= 0
    assert total == max(Decimal("0.00"), sum(amounts) - credit)
    # Payments never exceed the total and refunds never exceed payments (the services enforce
    # both), so the balance stays between 0 and the total.
    paid = cents(total * paid_fraction / 100)
    refunded = cents(paid * refund_fraction / 100)
    balance = balance_due(total=total, paid=paid, refunded=refunded)
    assert Decimal("0.00") <= balance <= total
    assert balance == total - paid + refunded


# --- price list -------------------------------------------------------------------------------


def test_invoice_uses_price_in_force_on_date_of_service(desk, patient, location):
    price(location, "90791", "200.00", effective_from=date(2026, 1, 1))
    price(location, "90791", "260.00", effective_from=date(2026, 4, 1))
    march = _invoice(
        desk, patient, location, [("90791", 1)], day=date(2026, 3, 31), kind="consultation"
    )
    april = _invoice(
        desk, patient, location, [("90791", 1)], day=date(2026, 4, 1), kind="consultation"
    )
    assert invoice_figures(march).total == Decimal("200.00")
    assert invoice_figures(april).total == Decimal("260.00")


def test_price_is_per_location(desk, patient, location, other_location):
    price(other_location, "90791", "999.00")
    with pytest.raises(ValidationError) as exc:
        _invoice(desk, patient, location, [("90791", 1)], kind="consultation")
    assert "lines" in exc.value.message_dict


def test_price_set_audited_and_only_for_own_location(desk, location, other_location):
    before = AuditEvent.objects.count()
    services.price_set(
        actor=desk,
        location=location,
        service_code="96365",
        unit_price="410.00",
        effective_from=date(2026, 6, 1),
    )
    assert AuditEvent.objects.count() == before + 1
    with pytest.raises(PermissionDenied):
        services.price_set(
            actor=desk,
            location=other_location,
            service_code="96365",
            unit_price="1",
            effective_from=date(2026, 6, 1),
        )
    with pytest.raises(ValidationError):
        services.price_set(
            actor=desk,
            location=location,
            service_code="96365",
            unit_price="1.005",
            effective_from=date(2026, 7, 1),
        )


# --- invoices ---------------------------------------------------------------------------------


def test_invoice_total_is_sum_of_lines(desk, patient, location, prices):
    invoice = _invoice(desk, patient, location, [("J3490", 3)])
    figures = invoice_figures(invoice)
    assert figures.subtotal == Decimal("506.50")
    assert figures.total == Decimal("506.50")
    assert figures.balance == Decimal("506.50")
    assert [(x.code, x.units, x.unit_price) for x in invoice.lines.all()] == [
        ("J3490", 3, Decimal("35.50")),
        ("96365", 1, Decimal("400.00")),
    ]
    assert AuditEvent.objects.filter(object_type="billing.Invoice", action="create").count() == 1


def test_only_completed_appointment_invoiced_once(desk, patient, location, prices):
    appointment = completed_appointment(patient, location, kind="consultation")
    services.invoice_create(actor=desk, appointment=appointment, lines=[LineInput("90791", 1)])
    with pytest.raises(ValidationError):
        services.invoice_create(actor=desk, appointment=appointment, lines=[LineInput("90791", 1)])
    booked = completed_appointment(patient, location, day=date(2026, 3, 11), kind="consultation")
    booked.status = "booked"
    booked.save()
    with pytest.raises(ValidationError):
        services.invoice_create(actor=desk, appointment=booked, lines=[LineInput("90791", 1)])


def _infusion_codes(invoice):
    return [(x.code, x.units) for x in invoice.lines.filter(code__in=("96365", "96366", "96374"))]


def _bill_pump(desk, patient, location, pump, day=10):
    appointment = completed_appointment(
        patient, location, day=date(2026, 3, day), infusion_minutes=None
    )
    infusion_session(appointment, pump=pump)
    return services.invoice_create(actor=desk, appointment=appointment, lines=[])


@pytest.fixture
def infusion_prices(location, prices):
    price(location, "96366", "150.00")
    price(location, "96374", "120.00")


def test_code_px_r1_infusion_codes_are_not_typed_on_the_invoice(desk, patient, location, prices):
    appointment = completed_appointment(patient, location)
    for code in ("96365", "96366"):
        with pytest.raises(ValidationError) as exc:
            services.invoice_create(actor=desk, appointment=appointment, lines=[LineInput(code, 1)])
        assert "pump record" in exc.value.message_dict["lines"][0]
    assert not Invoice.objects.exists()


def test_code_px_r1_no_pump_record_no_infusion_code(desk, patient, location, prices):
    appointment = completed_appointment(patient, location, infusion_minutes=None)
    invoice = services.invoice_create(
        actor=desk, appointment=appointment, lines=[LineInput("J3490", 1)]
    )
    assert _infusion_codes(invoice) == []
    assert invoice.infusion_started_at is None
    assert invoice.infusion_session_id is None


def test_code_px_r1_a_running_pump_cannot_be_billed(desk, patient, location, prices):
    appointment = completed_appointment(patient, location, infusion_minutes=None)
    infusion_session(appointment, pump=[("start", 0), ("pause", 30)], state="paused")
    with pytest.raises(ValidationError) as exc:
        services.invoice_create(actor=desk, appointment=appointment, lines=[])
    assert "appointment" in exc.value.message_dict


def test_code_px_r1_invoice_documents_the_pump_start_stop_and_session(
    desk, patient, location, prices
):
    appointment = completed_appointment(patient, location, infusion_minutes=None)
    session = infusion_session(appointment, pump=[("start", 20), ("stop", 65)])
    invoice = services.invoice_create(actor=desk, appointment=appointment, lines=[])
    invoice.refresh_from_db()
    assert invoice.infusion_session == session
    assert list(session.invoices.all()) == [invoice]
    assert invoice.infusion_started_at == appointment.starts_at + timedelta(minutes=20)
    assert invoice.infusion_stopped_at == appointment.starts_at + timedelta(minutes=65)
    # The running time the codes came from, frozen on the invoice (pauses excluded).
    assert invoice.infusion_running == timedelta(minutes=45)
    event = AuditEvent.objects.get(object_type="billing.Invoice", action="create")
    assert event.detail["infusion_running_seconds"] == 45 * 60


@pytest.mark.parametrize(
    ("pump", "codes"),
    [
        # CODE-PX1: 15 min or less is a push (CODE-PX3), more than 15 min is 96365.
        ([("start", 0), ("stop", 15)], [("96374", 1)]),
        ([("start", 0), ("stop", 15.5)], [("96365", 1)]),
        ([("start", 0), ("stop", 16)], [("96365", 1)]),
        # CODE-PX2: 96366 needs more than 30 min beyond the first hour.
        ([("start", 0), ("stop", 90)], [("96365", 1)]),
        ([("start", 0), ("stop", 91)], [("96365", 1), ("96366", 1)]),
        ([("start", 0), ("stop", 150)], [("96365", 1), ("96366", 1)]),
        ([("start", 0), ("stop", 151)], [("96365", 1), ("96366", 2)]),
    ],
)
def test_code_px1_px2_units_at_the_boundaries(
    desk, patient, location, infusion_prices, pump, codes
):
    invoice = _bill_pump(desk, patient, location, pump)
    assert _infusion_codes(invoice) == codes
    # What the API and the page show as derived is what was billed.
    basis = invoice_pump_basis(Invoice.objects.select_related("location").get(pk=invoice.pk))
    assert [(c.code, c.units) for c in basis.codes] == codes


def test_pauses_do_not_count_as_infusion_time(desk, patient, location, infusion_prices):
    # 100 min from start to stop, but a 20-minute pause: 80 min ran -> no added hour (CODE-PX2).
    paused = [("start", 0), ("pause", 50), ("resume", 70), ("stop", 100)]
    assert _infusion_codes(_bill_pump(desk, patient, location, paused)) == [("96365", 1)]
    # 12 min start to stop with a 3-minute pause: 9 min ran -> push (CODE-PX1).
    short = [("start", 0), ("pause", 5), ("resume", 8), ("stop", 12)]
    assert _infusion_codes(_bill_pump(desk, patient, location, short, day=11)) == [("96374", 1)]
    # 20 min ran in two runs of 10 -> more than 15 min -> 96365 (CODE-PX1).
    runs = [("start", 0), ("pause", 10), ("resume", 40), ("stop", 50)]
    assert _infusion_codes(_bill_pump(desk, patient, location, runs, day=12)) == [("96365", 1)]


def test_infusion_units_priced_from_the_list(desk, patient, location, infusion_prices):
    invoice = _bill_pump(desk, patient, location, [("start", 0), ("stop", 151)])
    assert invoice_figures(invoice).total == Decimal("700.00")  # 400 + 2 x 150


def test_nurse_and_prescriber_may_not_bill(patient, location, prices):
    appointment = completed_appointment(patient, location, kind="consultation")
    for role in ("nurse", "prescriber"):
        with pytest.raises(PermissionDenied):
            services.invoice_create(
                actor=make_user(role, location),
                appointment=appointment,
                lines=[LineInput("90791", 1)],
            )


def test_front_desk_of_other_location_may_not_bill(patient, location, other_location, prices):
    appointment = completed_appointment(patient, location, kind="consultation")
    with pytest.raises(PermissionDenied):
        services.invoice_create(
            actor=make_user("front_desk", other_location),
            appointment=appointment,
            lines=[LineInput("90791", 1)],
        )


# --- packages ---------------------------------------------------------------------------------


def test_package_consumed_one_session_per_appointment(desk, patient, location, prices):
    purchase = services.package_sell(actor=desk, patient=patient, plan=package_plan(location))
    assert invoice_figures(purchase.invoice).total == Decimal("1200.00")
    invoices = [
        _invoice(desk, patient, location, [("J3490", 1)], day=date(2026, 3, d))
        for d in (2, 4, 6, 9)
    ]
    figures = [invoice_figures(i) for i in invoices]
    # Three sessions pay the infusion line; the drug line is still charged.
    assert [f.total for f in figures[:3]] == [Decimal("35.50")] * 3
    assert [f.package_credit for f in figures[:3]] == [Decimal("400.00")] * 3
    assert figures[3].total == Decimal("435.50")
    assert figures[3].package_credit == 0
    purchase.refresh_from_db()
    assert package_sessions_left(purchase) == 0


def test_package_not_used_for_other_service_or_location(desk, patient, location, prices):
    services.package_sell(actor=desk, patient=patient, plan=package_plan(location))
    invoice = _invoice(desk, patient, location, [("90791", 1)], kind="consultation")
    assert invoice_figures(invoice).package_credit == 0


# --- payments and refunds ---------------------------------------------------------------------


def test_payments_and_refunds_move_the_balance(desk, patient, location, prices):
    invoice = _invoice(desk, patient, location, [])
    cash = services.payment_record(actor=desk, invoice=invoice, amount="100.00", method="cash")
    services.payment_record(
        actor=desk, invoice=invoice, amount="300.00", method="card", reference="slip 4711"
    )
    assert invoice_figures(invoice).balance == Decimal("0.00")
    refund = services.refund_record(actor=desk, payment=cash, amount="40.00")
    assert refund.kind == PaymentKind.REFUND
    assert refund.provider == "manual"
    figures = invoice_figures(invoice)
    assert (figures.paid, figures.refunded, figures.balance) == (
        Decimal("400.00"),
        Decimal("40.00"),
        Decimal("40.00"),
    )
    assert AuditEvent.objects.filter(object_type="billing.Payment", action="create").count() == 3


def test_payment_never_more_than_balance(desk, patient, location, prices):
    invoice = _invoice(desk, patient, location, [])
    with pytest.raises(ValidationError) as exc:
        services.payment_record(actor=desk, invoice=invoice, amount="400.01", method="cash")
    assert "amount" in exc.value.message_dict
    for bad in ("0", "-5", "1.001", "abc", "NaN"):
        with pytest.raises(ValidationError):
            services.payment_record(actor=desk, invoice=invoice, amount=bad, method="cash")
    with pytest.raises(ValidationError):
        services.payment_record(actor=desk, invoice=invoice, amount="1", method="bitcoin")


def test_refund_never_more_than_paid(desk, patient, location, prices):
    invoice = _invoice(desk, patient, location, [])
    payment = services.payment_record(
        actor=desk, invoice=invoice, amount="50.00", method="transfer"
    )
    services.refund_record(actor=desk, payment=payment, amount="30.00")
    with pytest.raises(ValidationError):
        services.refund_record(actor=desk, payment=payment, amount="20.01")
    services.refund_record(actor=desk, payment=payment, amount="20.00")
    assert invoice_figures(invoice).balance == Decimal("400.00")


@settings(max_examples=25, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["pay", "refund"]), st.decimals("0.01", "500.00", places=2)),
        max_size=8,
    )
)
def test_balance_stays_between_zero_and_total_under_any_sequence(steps):
    # Hypothesis runs inside one django_db test transaction; rows from earlier examples are
    # isolated by using a fresh invoice per example.
    location = _location()
    desk = make_user("front_desk", location)
    patient = PatientFactory(home_location=location)
    invoice = Invoice.objects.create(
        patient=patient, location=location, date_of_service=date(2026, 3, 1)
    )
    invoice.lines.create(code="90791", label="x", units=1, unit_price=Decimal("250.00"))
    last_payment = None
    for kind, amount in steps:
        try:
            if kind == "pay":
                last_payment = services.payment_record(
                    actor=desk, invoice=invoice, amount=amount, method="cash"
                )
            elif last_payment is not None:
                services.refund_record(actor=desk, payment=last_payment, amount=amount)
        except ValidationError:
            pass
        figures = invoice_figures(invoice)
        assert Decimal("0.00") <= figures.balance <= figures.total
        assert figures.refunded <= figures.paid


def _location():
    from tests.factories import LocationFactory

    return LocationFactory()


# --- rendering provider -----------------------------------------------------------------------


def test_billing_provider_npi_check_digit(location):
    admin = make_user("admin", location)
    prescriber = make_user("prescriber", location)
    with pytest.raises(ValidationError) as exc:
        services.billing_provider_set(
            actor=admin, user=prescriber, display_name="Dr P", npi="1234567890"
        )
    assert "npi" in exc.value.message_dict
    provider = services.billing_provider_set(
        actor=admin, user=prescriber, display_name="Dr P", npi=VALID_NPI
    )
    assert provider.npi == VALID_NPI
    with pytest.raises(PermissionDenied):
        services.billing_provider_set(
            actor=make_user("front_desk", location),
            user=prescriber,
            display_name="x",
            npi=VALID_NPI,
        )


def test_invoice_rendering_provider_needs_npi(desk, patient, location, prices):
    prescriber = make_user("prescriber", location)
    appointment = completed_appointment(patient, location, kind="consultation")
    with pytest.raises(ValidationError):
        services.invoice_create(
            actor=desk,
            appointment=appointment,
            lines=[LineInput("90791", 1)],
            rendering_provider=prescriber,
        )
    billing_provider(prescriber)
    invoice = services.invoice_create(
        actor=desk,
        appointment=appointment,
        lines=[LineInput("90791", 1)],
        rendering_provider=prescriber,
    )
    assert invoice.rendering_provider == prescriber


def test_a_billed_infusion_session_cannot_be_deleted(desk, patient, location, prices):
    """CODE-PX-R1: the session whose pump record an invoice was derived from stays (PROTECT)."""
    appointment = completed_appointment(patient, location, infusion_minutes=None)
    session = infusion_session(appointment, pump=[("start", 20), ("stop", 65)])
    services.invoice_create(actor=desk, appointment=appointment, lines=[])
    with pytest.raises(ProtectedError):
        session.delete()
