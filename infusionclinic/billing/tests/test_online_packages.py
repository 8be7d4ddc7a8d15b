"""Issue 19 (packages bought online): the purchase exists only once the webhook says it is paid,
exactly once; a refund of a package releases the unused sessions only, for their share of the
price (price x unused / sold, rounded down to the cent)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from infusionclinic.audit.models import AuditEvent
from infusionclinic.billing import online, services
from infusionclinic.billing.models import CheckoutSession, PackagePurchase, Payment, PaymentKind
from infusionclinic.billing.selectors import invoice_figures, package_sessions_left
from tests.factories import PatientFactory, logged_in_client, make_user

from .factories import completed_appointment, price
from .factories import package_plan as make_plan
from .test_online import _post, fake  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def package_plan(location):
    price(location, "96365", "400.00")
    return make_plan(location, sessions=3, amount="1000.00")


@pytest.fixture
def patient(location):
    return PatientFactory(home_location=location, email="pkg@example.com")


def _buy(fake, actor, patient, package_plan):  # noqa: F811
    return online.package_checkout_start(
        actor=actor,
        patient=patient,
        plan=package_plan,
        success_url="http://x/ok",
        cancel_url="http://x/no",
    ).session


def test_issue_19_package_bought_online_exists_only_after_the_paid_webhook_and_once(
    fake,  # noqa: F811
    patient,
    package_plan,
):
    owner = make_user("patient", patient=patient)
    session = _buy(fake, owner, patient, package_plan)
    assert fake.requests[-1][2]["line_items"][0]["price_data"]["unit_amount"] == "100000"
    assert "96365" not in str(fake.requests)  # Stripe is not told the service
    assert not PackagePurchase.objects.exists()
    payload = fake.event("checkout.session.completed", fake.complete(session.session_id))
    for _ in range(2):
        assert _post(payload).status_code == 200
    late = fake.event("checkout.session.async_payment_succeeded", fake.sessions[session.session_id])
    assert _post(late).status_code == 200
    purchase = PackagePurchase.objects.get()
    assert (purchase.patient, purchase.plan, purchase.sessions_total) == (
        patient,
        package_plan,
        3,
    )
    assert invoice_figures(purchase.invoice).balance == Decimal("0.00")
    assert Payment.objects.filter(kind=PaymentKind.PAYMENT).count() == 1
    session.refresh_from_db()
    assert session.invoice == purchase.invoice
    assert AuditEvent.objects.filter(
        object_type="billing.PackagePurchase", detail__checkout=session.session_id
    ).exists()


def test_issue_19_front_desk_opens_a_package_page_and_others_may_not(
    fake,  # noqa: F811
    patient,
    package_plan,
    location,
    other_location,
):
    desk = make_user("front_desk", location)
    page = logged_in_client(desk).post(
        f"/patients/{patient.pk}/billing/package/online/", {"plan": package_plan.pk}
    )
    assert page.status_code == 200
    assert CheckoutSession.objects.get().url in page.content.decode()
    stranger = make_user("patient", patient=PatientFactory(home_location=location))
    with pytest.raises(Exception):  # noqa: B017, PT011 (PermissionDenied)
        _buy(fake, stranger, patient, package_plan)
    with pytest.raises(Exception):  # noqa: B017, PT011
        _buy(fake, make_user("front_desk", other_location), patient, package_plan)


def test_issue_19_portal_lists_packages_with_buy_online(fake, patient, package_plan):  # noqa: F811
    client = logged_in_client(make_user("patient", patient=patient))
    assert f"Buy online ({package_plan.name})" in client.get("/my/packages/").content.decode()
    page = client.post(f"/my/packages/{package_plan.pk}/buy/")
    assert CheckoutSession.objects.get().url in page.content.decode()


@pytest.fixture
def bought(fake, patient, package_plan):  # noqa: F811
    session = _buy(fake, make_user("patient", patient=patient), patient, package_plan)
    _post(fake.event("checkout.session.completed", fake.complete(session.session_id)))
    return PackagePurchase.objects.get()


def _use_one(purchase, location):
    desk = make_user("front_desk", location)
    appointment = completed_appointment(purchase.patient, location)  # 45 min: 96365 x 1
    services.invoice_create(actor=desk, appointment=appointment, lines=[])


def test_issue_19_package_refund_releases_only_the_unused_sessions_for_their_share(
    fake,  # noqa: F811
    bought,
    location,
):
    _use_one(bought, location)
    admin = make_user("admin", location)
    online.package_refund(actor=admin, purchase=bought, request_key="k1")
    bought.refresh_from_db()
    # 1000.00 x 2 / 3 = 666.666… → 666.66 (never more than the unused share)
    refund = Payment.objects.get(kind=PaymentKind.REFUND)
    assert refund.amount == Decimal("666.66")
    assert fake.refunds[refund.reference]["amount"] == 66666
    assert (bought.sessions_total, bought.sessions_released) == (3, 2)
    assert package_sessions_left(bought) == 0
    assert bought.redemptions.count() == 1  # the used session stays redeemed
    assert AuditEvent.objects.filter(
        object_type="billing.PackagePurchase", action="update", detail__sessions_released=2
    ).exists()
    with pytest.raises(ValidationError, match="No unused sessions"):
        online.package_refund(actor=admin, purchase=bought, request_key="k2")
    assert Payment.objects.filter(kind=PaymentKind.REFUND).count() == 1


def test_issue_19_released_sessions_are_not_redeemed_later(fake, bought, location):  # noqa: F811
    online.package_refund(actor=make_user("admin", location), purchase=bought, request_key="k")
    _use_one(bought, location)
    assert bought.redemptions.count() == 0


def test_issue_19_a_package_cannot_be_refunded_in_full_through_the_plain_refund(
    fake,  # noqa: F811
    bought,
    location,
):
    _use_one(bought, location)
    payment = Payment.objects.get(invoice=bought.invoice, kind=PaymentKind.PAYMENT)
    with pytest.raises(ValidationError, match="unused sessions"):
        online.processor_refund(
            actor=make_user("admin", location), payment=payment, amount="1000", request_key="x"
        )


def test_issue_19_package_refund_from_the_invoice_page_is_admin_only_and_once(
    fake,  # noqa: F811
    bought,
    location,
):
    desk = logged_in_client(make_user("front_desk", location))
    assert (
        "Refund unused sessions"
        not in desk.get(f"/billing/invoices/{bought.invoice_id}/").content.decode()
    )
    desk.post(f"/billing/packages/{bought.pk}/refund/", {"request_key": "a"})
    assert not Payment.objects.filter(kind=PaymentKind.REFUND).exists()
    admin = logged_in_client(make_user("admin", location))
    assert (
        "Refund unused sessions ($1000.00)"
        in admin.get(f"/billing/invoices/{bought.invoice_id}/").content.decode()
    )
    for _ in range(2):
        admin.post(f"/billing/packages/{bought.pk}/refund/", {"request_key": "same"})
    assert Payment.objects.filter(kind=PaymentKind.REFUND).count() == 1


@given(
    price_cents=st.integers(1, 10_000_000),
    total=st.integers(1, 40),
    data=st.data(),
)
def test_issue_19_unused_share_is_never_above_price_times_unused_over_total_by_a_cent(
    price_cents, total, data
):
    """Pure arithmetic (no database): the refund is exact to the cent, rounded down."""
    unused = data.draw(st.integers(0, total))
    price_ = Decimal(price_cents) / 100
    share = online.unused_share(price_, unused, total)
    exact = Fraction(price_cents, 100) * unused / total
    assert share == share.quantize(Decimal("0.01"))
    assert Fraction(share) <= exact < Fraction(share) + Fraction(1, 100)
    if unused == total:
        assert share == price_
