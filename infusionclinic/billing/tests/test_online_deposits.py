"""Issue 19 (deposits): a booking that needs a deposit (per location and kind; default a
consultation $0, the first infusion $100) holds its slot for 30 minutes until Stripe's webhook
says it is paid; unpaid, the slot is released; a paid deposit is applied to the visit's
invoice."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from infusionclinic.audit.models import AuditEvent
from infusionclinic.billing import deposits, services
from infusionclinic.billing.models import Deposit, DepositStatus, Payment, PaymentKind
from infusionclinic.billing.reconciliation import reconciliation_day
from infusionclinic.billing.selectors import invoice_figures
from infusionclinic.billing.services import LineInput
from infusionclinic.billing.tasks import deposits_release_task
from infusionclinic.scheduling import services as scheduling
from infusionclinic.scheduling.models import AppointmentStatus
from infusionclinic.scheduling.tests.factories import future_day, local, staffed_location
from tests.factories import PatientFactory, logged_in_client, make_user

from .factories import price
from .test_online import _post, fake  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _intake_cleared(monkeypatch):
    """Intake's gate is pinned in intake's tests; here every patient is cleared for infusions."""
    monkeypatch.setattr(scheduling, "patient_may_be_booked", lambda *, patient: (True, []))


@pytest.fixture
def chairs(location):
    return staffed_location(location)


@pytest.fixture
def desk(location):
    return make_user("front_desk", location)


def _book(desk, location, *, kind="infusion", patient=None, hour=10, chair=None, days=10):
    return scheduling.appointment_book(
        actor=desk,
        patient=patient or PatientFactory(home_location=location),
        location=location,
        kind=kind,
        starts_at=local(location, future_day(days), hour),
        chair=chair,
    )


def _pay(fake, actor, deposit):  # noqa: F811
    session = deposits.deposit_checkout_start(
        actor=actor, deposit=deposit, success_url="http://x/ok", cancel_url="http://x/no"
    ).session
    return fake.event("checkout.session.completed", fake.complete(session.session_id))


def _expire(deposit):
    Deposit.objects.filter(pk=deposit.pk).update(hold_until=timezone.now() - timedelta(seconds=1))


def test_issue_19_defaults_first_infusion_100_consultation_none_and_none_without_stripe(
    fake,  # noqa: F811
    desk,
    location,
    chairs,
    settings,
):
    first = _book(desk, location)
    deposit = Deposit.objects.get(appointment=first)
    assert deposit.amount == Decimal("100.00")
    assert deposit.status == DepositStatus.PENDING
    held = deposit.hold_until - timezone.now()
    assert timedelta(minutes=29) < held <= timedelta(minutes=30)
    assert AuditEvent.objects.filter(object_type="billing.Deposit", action="create").exists()
    later = _book(desk, location, patient=first.patient, days=20)
    consultation = _book(desk, location, kind="consultation", hour=14)
    assert not Deposit.objects.filter(appointment__in=[later, consultation]).exists()
    settings.STRIPE_SECRET_KEY = ""
    unconfigured = _book(desk, location, hour=13)
    assert not Deposit.objects.filter(appointment=unconfigured).exists()


def test_issue_19_deposit_paid_then_slot_confirmed_once(fake, desk, location, chairs):  # noqa: F811
    appointment = _book(desk, location, chair=chairs[0])
    deposit = appointment.deposit
    payload = _pay(fake, make_user("patient", patient=appointment.patient), deposit)
    for _ in range(2):
        assert _post(payload).status_code == 200
    deposit.refresh_from_db()
    assert deposit.status == DepositStatus.PAID
    assert deposit.payment_intent_id.startswith("pi_")
    _expire(deposit)  # the hold's time passes: a paid deposit keeps the slot
    assert deposits.deposits_release_expired() == 0
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.BOOKED
    with pytest.raises(scheduling.BookingConflict, match="Chair 1 is already booked"):
        _book(desk, location, chair=chairs[0])


def test_issue_19_deposit_never_paid_then_slot_released(fake, desk, location, chairs):  # noqa: F811
    held = _book(desk, location, chair=chairs[0])
    with pytest.raises(scheduling.BookingConflict):
        _book(desk, location, chair=chairs[0])  # held while the 30 minutes run
    _expire(held.deposit)
    # The booking check treats the expired unpaid hold as free at once ...
    assert not scheduling.booking_problems(
        location=location,
        kind="infusion",
        starts_at=held.starts_at,
        ends_at=held.ends_at,
        chair=chairs[0],
        patient=None,
    )
    # ... and the next booking releases it and takes the chair.
    newcomer = _book(desk, location, chair=chairs[0])
    held.refresh_from_db()
    assert held.status == AppointmentStatus.CANCELLED
    assert "Deposit not paid within 30 minutes" in held.status_reason
    assert Deposit.objects.get(appointment=held).status == DepositStatus.RELEASED
    assert newcomer.chair == chairs[0]
    with pytest.raises(ValidationError, match="no longer due"):
        _pay(fake, desk, held.deposit)


def test_issue_19_the_periodic_task_releases_expired_holds(fake, desk, location, chairs):  # noqa: F811
    held = _book(desk, location)
    _expire(held.deposit)
    assert deposits_release_task.call() == 1
    held.refresh_from_db()
    assert held.status == AppointmentStatus.CANCELLED


def test_issue_19_a_deposit_paid_after_the_release_is_refunded(fake, desk, location, chairs):  # noqa: F811
    held = _book(desk, location)
    payload = _pay(fake, desk, held.deposit)
    _expire(held.deposit)
    deposits.deposits_release_expired()
    assert _post(payload).status_code == 200
    deposit = Deposit.objects.get(appointment=held)
    assert deposit.status == DepositStatus.REFUNDED
    assert fake.intents[deposit.payment_intent_id]["refunded"] == 10000


@pytest.fixture
def consultation_deposit(settings):
    settings.BILLING_DEPOSITS = {"*": {"consultation": "50.00"}}


def _invoice_visit(desk, appointment, location):
    type(appointment).objects.filter(pk=appointment.pk).update(status=AppointmentStatus.COMPLETED)
    price(location, "90791", "250.00", effective_from=timezone.localdate() - timedelta(days=1))
    return services.invoice_create(
        actor=desk, appointment=appointment, lines=[LineInput("90791", 1)]
    )


def test_issue_19_a_paid_deposit_is_applied_to_the_visits_invoice(
    fake,  # noqa: F811
    desk,
    location,
    chairs,
    consultation_deposit,
):
    appointment = _book(desk, location, kind="consultation")
    _post(_pay(fake, desk, appointment.deposit))
    admin = make_user("admin", location)
    today = timezone.localdate(timezone=location.tzinfo)
    report = reconciliation_day(actor=admin, location=location, day=today)
    assert [(r.ours, r.theirs, r.problem) for r in report.rows] == [
        (Decimal("50.00"), Decimal("50.00"), "")
    ]
    invoice = _invoice_visit(desk, appointment, location)
    payment = Payment.objects.get(invoice=invoice, kind=PaymentKind.PAYMENT)
    assert (payment.amount, payment.provider, payment.note) == (
        Decimal("50.00"),
        "stripe",
        "Deposit paid online at booking",
    )
    assert invoice_figures(invoice).balance == Decimal("200.00")
    assert Deposit.objects.get(appointment=appointment).applied_payment == payment
    report = reconciliation_day(actor=admin, location=location, day=today)
    assert [r.problem for r in report.rows] == [""]


def test_issue_19_a_deposit_over_the_invoice_total_is_refunded_in_part(
    fake,  # noqa: F811
    desk,
    location,
    chairs,
    settings,
):
    settings.BILLING_DEPOSITS = {location.code: {"consultation": "300.00"}}
    appointment = _book(desk, location, kind="consultation")
    _post(_pay(fake, desk, appointment.deposit))
    invoice = _invoice_visit(desk, appointment, location)
    figures = invoice_figures(invoice)
    assert (figures.paid, figures.refunded, figures.balance) == (
        Decimal("300.00"),
        Decimal("50.00"),
        Decimal("0.00"),
    )


def test_issue_19_only_the_patient_or_staff_of_the_location_open_the_deposit_page(
    fake,  # noqa: F811
    desk,
    location,
    chairs,
):
    appointment = _book(desk, location)
    stranger = make_user("patient", patient=PatientFactory(home_location=location))
    url = f"/billing/deposits/{appointment.deposit.pk}/pay/"
    assert logged_in_client(stranger).post(url).status_code == 404
    owner = make_user("patient", patient=appointment.patient)
    client = logged_in_client(owner)
    assert "Pay the deposit ($100.00)" in client.get("/my/invoices/").content.decode()
    page = client.post(url).content.decode()
    assert "Continue to the secure payment page (Stripe)" in page


def test_issue_19_the_deposit_page_expires_with_the_hold_and_a_new_one_is_a_new_page(
    fake,  # noqa: F811
    desk,
    location,
    chairs,
):
    appointment = _book(desk, location)
    deposit = appointment.deposit
    first = deposits.deposit_checkout_start(
        actor=desk, deposit=deposit, success_url="http://x", cancel_url="http://x"
    ).session
    sent = next(p for m, path, p in fake.requests if path == "/v1/checkout/sessions")
    # The hold is 30 minutes; Stripe's shortest page life is 30 minutes: the page ends with it.
    assert abs(int(sent["expires_at"]) - (timezone.now().timestamp() + 30 * 60)) < 60
    _post(fake.event("checkout.session.expired", fake.sessions[first.session_id]))
    deposit.refresh_from_db()
    second = deposits.deposit_checkout_start(
        actor=desk, deposit=deposit, success_url="http://x", cancel_url="http://x"
    ).session
    assert second.session_id != first.session_id


def test_issue_19_an_admin_refunds_an_unused_paid_deposit_once_and_it_reconciles(
    fake,  # noqa: F811
    desk,
    location,
    chairs,
):
    appointment = _book(desk, location)
    _post(_pay(fake, desk, appointment.deposit))
    deposit = Deposit.objects.get(appointment=appointment)
    with pytest.raises(Exception):  # noqa: B017, PT011 (PermissionDenied)
        deposits.deposit_refund(actor=desk, deposit=deposit)
    admin = make_user("admin", location)
    client = logged_in_client(admin)
    page = client.get(f"/patients/{appointment.patient_id}/billing/").content.decode()
    assert "Refund the deposit ($100.00)" in page
    for _ in range(2):
        client.post(f"/billing/deposits/{deposit.pk}/refund/")
    deposit.refresh_from_db()
    assert deposit.status == DepositStatus.REFUNDED
    assert fake.intents[deposit.payment_intent_id]["refunded"] == 10000
    assert len(fake.refunds) == 1
    today = timezone.localdate(timezone=location.tzinfo)
    report = reconciliation_day(actor=admin, location=location, day=today)
    assert sorted((r.kind, r.ours, r.theirs, r.problem) for r in report.rows) == [
        ("payment", Decimal("100.00"), Decimal("100.00"), ""),
        ("refund", Decimal("100.00"), Decimal("100.00"), ""),
    ]


def test_issue_19_moving_into_an_expired_hold_releases_it_first(fake, desk, location, chairs):  # noqa: F811
    held = _book(desk, location, chair=chairs[0])
    other = _book(desk, location, chair=chairs[0], days=12)
    _expire(held.deposit)
    moved = scheduling.appointment_move(
        actor=desk, appointment=other, starts_at=held.starts_at, chair=chairs[0]
    )
    held.refresh_from_db()
    assert held.status == AppointmentStatus.CANCELLED
    assert moved.starts_at == held.starts_at
