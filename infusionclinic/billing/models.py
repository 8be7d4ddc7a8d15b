"""Self-pay billing: services (CPT/HCPCS), an effective-dated price list per location, invoices per
appointment, packages, payments and refunds. Money is Decimal (USD) to the cent."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from infusionclinic.accounts.models import Location
from infusionclinic.common.models import TimeStampedModel
from infusionclinic.infusions.models import InfusionSession
from infusionclinic.patients.models import Patient
from infusionclinic.scheduling.models import Appointment

MONEY = {"max_digits": 10, "decimal_places": 2}


class BillableService(models.Model):
    """A CPT/HCPCS code number with a clinic-written short label (codes.md CODE-PX-R2: the AMA
    descriptor is not shipped). Seeded from data/services.json."""

    code = models.CharField(max_length=8, unique=True)
    label = models.CharField(max_length=80)
    rule_id = models.CharField(max_length=16, blank=True)
    # CODE-PX-R1: infusion codes need documented start and stop times.
    timed = models.BooleanField(default=False)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.label}"


class Price(models.Model):
    """One price of a service at a location from a date on; a change is a new row, so an invoice's
    price can always be explained by the row in force on its date of service."""

    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="prices")
    service = models.ForeignKey(BillableService, on_delete=models.PROTECT, related_name="prices")
    unit_price = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3, default="USD")
    effective_from = models.DateField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["location", "service", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["location", "service", "effective_from"], name="price_one_per_day"
            ),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.service.code} @ {self.location_id} from {self.effective_from}"


class BillingProvider(models.Model):
    """The rendering provider's billing identity (superbill): NPI per prescriber, not on User."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="billing_provider"
    )
    display_name = models.CharField(max_length=200)
    credentials = models.CharField(max_length=40, blank=True)
    npi = models.CharField("NPI", max_length=10)

    def __str__(self) -> str:
        return f"{self.display_name} (NPI {self.npi})"


class PackagePlan(models.Model):
    """A package offered at a location, e.g. an induction series of N sessions of one service at a
    package price."""

    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="package_plans")
    name = models.CharField(max_length=120)
    service = models.ForeignKey(BillableService, on_delete=models.PROTECT, related_name="+")
    sessions = models.PositiveSmallIntegerField()
    price = models.DecimalField(**MONEY)
    active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(sessions__gte=1), name="package_has_sessions"),
            models.CheckConstraint(condition=Q(price__gte=0), name="package_price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.sessions} x {self.service.code})"


class InvoiceStatus(models.TextChoices):
    ISSUED = "issued", "Issued"
    VOID = "void", "Void"


class Invoice(TimeStampedModel):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="invoices")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="invoices")
    # One invoice per completed appointment; a package sale's invoice has none.
    appointment = models.OneToOneField(
        Appointment, on_delete=models.PROTECT, null=True, blank=True, related_name="invoice"
    )
    # The infusion session whose pump record the infusion codes came from (CODE-PX-R1); None for
    # a visit without a pump run and for a package sale. PROTECT: a billed session stays.
    infusion_session = models.ForeignKey(
        InfusionSession,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_index=True,
        related_name="invoices",
    )
    status = models.CharField(
        max_length=8, choices=InvoiceStatus.choices, default=InvoiceStatus.ISSUED
    )
    date_of_service = models.DateField()
    # CODE-PX-R1: documented start and stop of the infusion, required for timed codes.
    infusion_started_at = models.DateTimeField(null=True, blank=True)
    infusion_stopped_at = models.DateTimeField(null=True, blank=True)
    # The pump's running time between them, pauses excluded, frozen at issue: the one number the
    # infusion codes and units were derived from (units.infusion_code_units, CODE-PX1/PX2/PX3).
    infusion_running = models.DurationField(null=True, blank=True)
    rendering_provider = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    package_credit = models.DecimalField(**MONEY, default=Decimal("0.00"))
    currency = models.CharField(max_length=3, default="USD")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )

    class Meta:
        ordering = ["-date_of_service", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(package_credit__gte=0), name="invoice_credit_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def number(self) -> str:
        return f"INV-{self.pk:06d}" if self.pk else "INV-new"


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    # None for a package sale's line (it carries no procedure code).
    service = models.ForeignKey(
        BillableService, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Frozen at issue: code and label as printed, price from the Price row in force.
    code = models.CharField(max_length=8, blank=True)
    label = models.CharField(max_length=120)
    units = models.PositiveSmallIntegerField()
    unit_price = models.DecimalField(**MONEY)
    price = models.ForeignKey(Price, on_delete=models.PROTECT, null=True, blank=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(condition=Q(units__gte=1), name="line_units_positive"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="line_price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.code or '-'} x{self.units}"


class PackagePurchase(TimeStampedModel):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="packages")
    plan = models.ForeignKey(PackagePlan, on_delete=models.PROTECT, related_name="purchases")
    # The sale's own invoice (one line at the package price), paid like any other.
    invoice = models.OneToOneField(Invoice, on_delete=models.PROTECT, related_name="package_sold")
    sessions_total = models.PositiveSmallIntegerField()
    # Issue 19: sessions given back by a refund of the unused part of the package. What was sold
    # (`sessions_total`) stays as it was; sessions left = total - released - redeemed.
    sessions_released = models.PositiveSmallIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )

    def __str__(self) -> str:
        return f"{self.plan.name} for {self.patient_id}"


class PackageRedemption(models.Model):
    """One session of a package consumed by one appointment's invoice."""

    purchase = models.ForeignKey(
        PackagePurchase, on_delete=models.PROTECT, related_name="redemptions"
    )
    invoice = models.OneToOneField(Invoice, on_delete=models.PROTECT, related_name="redemption")
    credit = models.DecimalField(**MONEY)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"session of {self.purchase_id} on invoice {self.invoice_id}"


class PaymentMethod(models.TextChoices):
    CASH = "cash", "Cash"
    CARD = "card", "Card"
    TRANSFER = "transfer", "Bank transfer"


class PaymentKind(models.TextChoices):
    PAYMENT = "payment", "Payment"
    REFUND = "refund", "Refund"


class Payment(models.Model):
    """A payment or refund as staff recorded it. `amount` is always positive; `kind` says which
    way the money went. Append-only: a mistake is corrected by a refund."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    kind = models.CharField(max_length=8, choices=PaymentKind.choices)
    method = models.CharField(max_length=8, choices=PaymentMethod.choices)
    amount = models.DecimalField(**MONEY)
    provider = models.CharField(max_length=32)
    reference = models.CharField(max_length=100, blank=True)
    note = models.CharField(max_length=300, blank=True)
    refund_of = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="refunds"
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["recorded_at", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            # A processor's payment (its payment intent) or refund is recorded once.
            models.UniqueConstraint(
                fields=["provider", "kind", "reference"],
                condition=~Q(provider="manual"),
                name="payment_processor_reference_once",
            ),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def number(self) -> str:
        prefix = "RCT" if self.kind == PaymentKind.PAYMENT else "RFD"
        return f"{prefix}-{self.pk:06d}"


# --- Card payments through a processor (issue 19) ----------------------------------------------
# Only the processor's ids are stored, never card data (PCI DSS SAQ A: hosted pages only).


class ProcessorCustomer(models.Model):
    """The processor's customer id for a patient (one per patient and processor)."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    provider = models.CharField(max_length=32)
    customer_id = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "provider"], name="processor_customer_one_per_patient"
            )
        ]

    def __str__(self) -> str:
        return self.customer_id


class CheckoutStatus(models.TextChoices):
    OPEN = "open", "Open"
    COMPLETE = "complete", "Paid"
    EXPIRED = "expired", "Expired"


class CheckoutPurpose(models.TextChoices):
    INVOICE = "invoice", "Invoice"
    PACKAGE = "package", "Package bought online"
    DEPOSIT = "deposit", "Deposit for a booking"


class CheckoutSession(models.Model):
    """A hosted payment page opened for an invoice, or for a package bought online (its purchase
    and invoice are created only when the webhook says it is paid). Its state changes only from
    the processor's signed webhook, never from the browser's return."""

    provider = models.CharField(max_length=32)
    session_id = models.CharField(max_length=255, unique=True)
    purpose = models.CharField(
        max_length=8, choices=CheckoutPurpose.choices, default=CheckoutPurpose.INVOICE
    )
    invoice = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, related_name="checkouts", null=True, blank=True
    )
    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    package_plan = models.ForeignKey(
        PackagePlan, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3, default="USD")
    url = models.URLField(max_length=2000)
    status = models.CharField(
        max_length=8, choices=CheckoutStatus.choices, default=CheckoutStatus.OPEN
    )
    payment_intent_id = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="checkout_amount_positive"),
        ]

    def __str__(self) -> str:
        return self.session_id


class ProcessorEvent(models.Model):
    """Each webhook event the processor sent, stored once: its id is unique, so a repeat changes
    nothing twice. `outcome` says what it did."""

    provider = models.CharField(max_length=32)
    event_id = models.CharField(max_length=255, unique=True)
    event_type = models.CharField(max_length=100)
    created = models.DateTimeField(help_text="When the processor created the event.")
    received_at = models.DateTimeField()
    outcome = models.CharField(max_length=300)

    class Meta:
        ordering = ["-received_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"


class FeePolicyConsent(models.Model):
    """Issue 19: the patient agreed to one version of the clinic's fee policy
    (`billing/data/fee_policy.json`) before saving a card. The text as shown, with the fees of
    that day, is kept: a fee is never charged above what the patient agreed to."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="fee_consents")
    version = models.PositiveIntegerField()
    text = models.TextField()
    late_cancel_fee = models.DecimalField(**MONEY)
    no_show_fee = models.DecimalField(**MONEY)
    agreed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    agreed_at = models.DateTimeField()

    class Meta:
        ordering = ["-agreed_at", "-pk"]

    def __str__(self) -> str:
        return f"fee policy v{self.version} by {self.patient_id}"


class CardSetup(models.Model):
    """A hosted card set-up page (Checkout `mode=setup`) opened after the patient's consent. The
    card is stored only from the signed webhook."""

    provider = models.CharField(max_length=32)
    session_id = models.CharField(max_length=255, unique=True)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    consent = models.ForeignKey(FeePolicyConsent, on_delete=models.PROTECT, related_name="+")
    url = models.URLField(max_length=2000)
    status = models.CharField(
        max_length=8, choices=CheckoutStatus.choices, default=CheckoutStatus.OPEN
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.session_id


class CardOnFile(models.Model):
    """A saved card: only Stripe's ids, the brand, the last 4 digits and the expiry (PCI DSS
    SAQ A). The newest active card of a patient is the one charged."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="cards")
    provider = models.CharField(max_length=32)
    customer_id = models.CharField(max_length=64)
    setup_intent_id = models.CharField(max_length=255, unique=True)
    payment_method_id = models.CharField(max_length=255)
    brand = models.CharField(max_length=20)
    last4 = models.CharField(max_length=4)
    exp_month = models.PositiveSmallIntegerField()
    exp_year = models.PositiveSmallIntegerField()
    consent = models.ForeignKey(FeePolicyConsent, on_delete=models.PROTECT, related_name="cards")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.brand} ending {self.last4}"


class FeeKind(models.TextChoices):
    LATE_CANCEL = "late_cancel", "Late-cancellation fee"
    NO_SHOW = "no_show", "No-show fee"


class FeeCharge(models.Model):
    """A late-cancel / no-show fee charged off-session to the card on file by a staff action;
    one per appointment (charged once however often the button is pressed)."""

    appointment = models.OneToOneField(
        Appointment, on_delete=models.PROTECT, related_name="fee_charge"
    )
    kind = models.CharField(max_length=12, choices=FeeKind.choices)
    amount = models.DecimalField(**MONEY)
    card = models.ForeignKey(CardOnFile, on_delete=models.PROTECT, related_name="+")
    invoice = models.OneToOneField(Invoice, on_delete=models.PROTECT, related_name="fee_charge")
    payment_intent_id = models.CharField(max_length=255, unique=True)
    charged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    charged_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} for {self.appointment_id}"


class DepositStatus(models.TextChoices):
    PENDING = "pending", "Awaiting payment (slot held)"
    PAID = "paid", "Paid"
    RELEASED = "released", "Not paid in time (slot released)"
    REFUNDED = "refunded", "Paid after the release: refunded"


class Deposit(models.Model):
    """Issue 19: the deposit a booking needs (`BILLING_DEPOSITS`). The slot is held until
    `hold_until`; paid (from the webhook) it stays booked, unpaid it is released. A paid deposit
    becomes a payment on the visit's invoice when that is created (`applied_payment`)."""

    appointment = models.OneToOneField(
        Appointment, on_delete=models.PROTECT, related_name="deposit"
    )
    amount = models.DecimalField(**MONEY)
    status = models.CharField(
        max_length=8, choices=DepositStatus.choices, default=DepositStatus.PENDING
    )
    hold_until = models.DateTimeField()
    checkout = models.ForeignKey(
        CheckoutSession, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    payment_intent_id = models.CharField(max_length=255, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    refund_id = models.CharField(max_length=255, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    applied_payment = models.OneToOneField(
        Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="deposit"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="deposit_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"deposit {self.amount} for {self.appointment_id}"
