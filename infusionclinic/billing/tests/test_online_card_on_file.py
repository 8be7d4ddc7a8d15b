"""Issue 19 (card on file): the patient agrees to the versioned fee policy and saves a card on
Stripe's set-up page; only ids, brand, last 4 and expiry are kept, from the signed webhook. Staff
charge the late-cancel / no-show fee off-session after seeing the amount and the policy — once per
appointment even if the button is pressed twice."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from infusionclinic.audit.models import AuditEvent
from infusionclinic.billing import cardonfile
from infusionclinic.billing.models import (
    CardOnFile,
    FeeCharge,
    FeePolicyConsent,
    Payment,
    PaymentKind,
)
from infusionclinic.billing.selectors import invoice_figures
from infusionclinic.scheduling.models import Appointment
from tests.factories import PatientFactory, logged_in_client, make_user

from .test_online import _post, fake  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient(location):
    return PatientFactory(home_location=location, email="card@example.com")


@pytest.fixture
def owner(patient):
    return make_user("patient", patient=patient)


@pytest.fixture
def fees(settings):
    settings.SCHEDULING_NO_SHOW_FEE = "50.00"
    settings.SCHEDULING_LATE_CANCEL_FEE = "25.00"


def _save_card(fake, owner):  # noqa: F811
    version = cardonfile.fee_policy_current().version
    setup = cardonfile.card_setup_start(
        actor=owner, agree_version=version, success_url="http://x/ok", cancel_url="http://x/no"
    )
    assert _post(fake.event("checkout.session.completed", fake.complete(setup.session_id)))
    return CardOnFile.objects.get(patient=owner.patient, active=True)


def _missed(patient, location, status="no_show", *, late=False):
    starts = timezone.now() - timedelta(days=1)
    return Appointment.objects.create(
        patient=patient,
        location=location,
        kind="consultation",
        starts_at=starts,
        ends_at=starts + timedelta(hours=1),
        status=status,
        late_cancellation=late,
    )


def test_issue_19_a_card_is_saved_only_after_consent_to_the_current_fee_policy(
    fake,  # noqa: F811
    owner,
    fees,
):
    with pytest.raises(ValidationError, match="agree to the current fee policy"):
        cardonfile.card_setup_start(
            actor=owner, agree_version=None, success_url="http://x", cancel_url="http://x"
        )
    assert not FeePolicyConsent.objects.exists()
    card = _save_card(fake, owner)
    session = next(p for m, path, p in fake.requests if path == "/v1/checkout/sessions")
    assert session["mode"] == "setup"
    assert "line_items" not in session
    consent = FeePolicyConsent.objects.get()
    assert consent.version == 1
    assert "no-show fee of $50.00" in consent.text
    assert (card.brand, card.last4, card.exp_month, card.exp_year) == ("visa", "4242", 12, 2030)
    assert card.payment_method_id.startswith("pm_")
    assert card.setup_intent_id.startswith("seti_")
    assert card.consent == consent
    assert AuditEvent.objects.filter(object_type="billing.CardOnFile", action="create").exists()
    # Only ids, brand, last 4 and expiry (PCI DSS SAQ A): the model has no other card field.
    stored = {f.name for f in CardOnFile._meta.get_fields()}
    assert not stored & {"number", "cvc", "card_number", "fingerprint"}


def test_issue_19_the_card_webhook_delivered_twice_saves_one_card(fake, owner):  # noqa: F811
    version = cardonfile.fee_policy_current().version
    setup = cardonfile.card_setup_start(
        actor=owner, agree_version=version, success_url="http://x", cancel_url="http://x"
    )
    payload = fake.event("checkout.session.completed", fake.complete(setup.session_id))
    for _ in range(2):
        assert _post(payload).status_code == 200
    again = fake.event("checkout.session.completed", fake.sessions[setup.session_id])
    assert _post(again).status_code == 200
    assert CardOnFile.objects.count() == 1


def test_issue_19_the_portal_shows_the_policy_and_the_saved_card(fake, owner, fees):  # noqa: F811
    client = logged_in_client(owner)
    page = client.get("/my/card/").content.decode()
    assert "Cancellation and no-show fees (version 1)" in page
    assert "no-show fee of $50.00" in page
    response = client.post("/my/card/setup/", {"version": "1"})  # box not ticked
    assert response.status_code == 302
    assert not FeePolicyConsent.objects.exists()
    page = client.post("/my/card/setup/", {"version": "1", "agree": "1"}).content.decode()
    assert "Continue to the secure card page (Stripe)" in page
    _post(
        fake.event(
            "checkout.session.completed", fake.complete(next(iter(fake.sessions.values()))["id"])
        )
    )
    assert "Visa ending 4242, expires 12/2030" in client.get("/my/card/").content.decode()


def test_issue_19_no_show_fee_shown_first_then_charged_once_even_if_pressed_twice(
    fake,  # noqa: F811
    owner,
    fees,
    location,
):
    _save_card(fake, owner)
    appointment = _missed(owner.patient, location)
    desk = logged_in_client(make_user("front_desk", location))
    url = f"/billing/appointments/{appointment.pk}/fee/"
    page = desk.get(url).content.decode()
    assert "Charge $50.00 to the card on file" in page
    assert "no-show fee of $50.00" in page  # the policy text the patient agreed to
    assert "Visa ending 4242" in page
    assert not FeeCharge.objects.exists()  # showing charges nothing
    for _ in range(2):
        desk.post(url, {"amount": "50.00"})
    charge = FeeCharge.objects.get()
    assert (charge.kind, charge.amount) == ("no_show", Decimal("50.00"))
    assert [p for m, p, _ in fake.requests if p == "/v1/payment_intents"] == ["/v1/payment_intents"]
    intent = fake.intents[charge.payment_intent_id]
    assert intent["amount_received"] == 5000
    sent = next(p for m, path, p in fake.requests if path == "/v1/payment_intents")
    assert (sent["off_session"], sent["confirm"]) == ("true", "true")
    payment = Payment.objects.get(invoice=charge.invoice, kind=PaymentKind.PAYMENT)
    assert (payment.provider, payment.reference) == ("stripe", charge.payment_intent_id)
    assert invoice_figures(charge.invoice).balance == Decimal("0.00")
    assert AuditEvent.objects.filter(object_type="billing.FeeCharge", action="create").exists()


def test_issue_19_a_second_charge_call_returns_the_first_and_stripe_gets_one_key(
    fake,  # noqa: F811
    owner,
    fees,
    location,
):
    card = _save_card(fake, owner)
    appointment = _missed(owner.patient, location, "cancelled", late=True)
    desk = make_user("front_desk", location)
    first = cardonfile.fee_charge(actor=desk, appointment=appointment, amount_shown="25.00")
    second = cardonfile.fee_charge(actor=desk, appointment=appointment, amount_shown="25.00")
    assert first.pk == second.pk
    assert first.kind == "late_cancel"
    # The key Stripe de-duplicates on is per appointment (a lost answer retried charges once).
    assert f"fee-appointment-{appointment.pk}-{card.payment_method_id}" in fake._idempotent  # noqa: SLF001


def test_issue_19_no_fee_by_default_and_nothing_is_sent_to_stripe(fake, owner, location):  # noqa: F811
    _save_card(fake, owner)
    appointment = _missed(owner.patient, location)
    desk = make_user("front_desk", location)
    quote = cardonfile.fee_quote(actor=desk, appointment=appointment)
    assert "charges no fee" in quote.problem
    with pytest.raises(ValidationError, match="charges no fee"):
        cardonfile.fee_charge(actor=desk, appointment=appointment, amount_shown="0")
    assert not any(p == "/v1/payment_intents" for _, p, _ in fake.requests)


def test_issue_19_fee_never_above_what_the_patient_agreed_to_and_a_kept_visit_has_none(
    fake,  # noqa: F811
    owner,
    fees,
    location,
    settings,
):
    _save_card(fake, owner)
    settings.SCHEDULING_NO_SHOW_FEE = "80.00"  # raised after the patient agreed to $50
    desk = make_user("front_desk", location)
    quote = cardonfile.fee_quote(actor=desk, appointment=_missed(owner.patient, location))
    assert quote.amount == Decimal("50.00")
    on_time = _missed(owner.patient, location, "cancelled", late=False)
    assert "Only a no-show" in cardonfile.fee_quote(actor=desk, appointment=on_time).problem


def test_issue_19_a_declined_card_records_nothing(fake, owner, fees, location):  # noqa: F811
    card = _save_card(fake, owner)
    fake.declines.add(card.payment_method_id)
    appointment = _missed(owner.patient, location)
    desk = make_user("front_desk", location)
    with pytest.raises(ValidationError, match="declined"):
        cardonfile.fee_charge(actor=desk, appointment=appointment, amount_shown="50.00")
    assert not FeeCharge.objects.exists()
    assert not Payment.objects.exists()


def test_issue_19_fee_page_is_for_staff_of_the_location_only(
    fake,  # noqa: F811
    owner,
    fees,
    location,
    other_location,
):
    appointment = _missed(owner.patient, location)
    url = f"/billing/appointments/{appointment.pk}/fee/"
    assert logged_in_client(owner).post(url, {"amount": "50.00"}).status_code in {403, 404}
    assert logged_in_client(make_user("front_desk", other_location)).get(url).status_code == 404
    assert not FeeCharge.objects.exists()
