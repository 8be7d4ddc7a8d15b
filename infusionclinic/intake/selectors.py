"""Reads for referral, intake, screening and consent, scoped by the user; and the booking gate
other apps call before scheduling an infusion or signing an order."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Max, QuerySet

from infusionclinic.accounts.models import User
from infusionclinic.accounts.roles import Perm
from infusionclinic.common.access import denied
from infusionclinic.common.ids import id_from_path
from infusionclinic.patients.models import Patient
from infusionclinic.patients.selectors import locations_for_user, patients_visible_to

from . import screening
from .models import (
    ConsentDocument,
    ConsentSignature,
    EligibilityScreening,
    Intake,
    IntakeStatus,
    PrescriberReview,
    Referral,
    ReviewDecision,
    ScreeningFinding,
    ScreeningStatus,
)

# --- Referral ---------------------------------------------------------------------------------


def referrals_visible_to(*, user: User) -> QuerySet[Referral]:
    if not user.has_role_perm(Perm.REFERRAL_MANAGE):
        return Referral.objects.none()
    return Referral.objects.filter(location__in=locations_for_user(user=user))


def referral_get_for_user(*, user: User, referral_id: int | str) -> Referral:
    pk = id_from_path(referral_id)
    referral = (
        referrals_visible_to(user=user)
        .select_related("location", "referring_provider", "patient")
        .filter(pk=pk)
        .first()
        if pk is not None
        else None
    )
    if referral is None:
        raise denied(user, "intake.Referral", referral_id)
    return referral


# --- Screening --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FindingView:
    finding: ScreeningFinding
    reviewable: bool
    review: PrescriberReview | None  # the review covering this finding (same rule and evidence)

    @property
    def needs_review(self) -> bool:
        return self.finding.severity == "relative" and self.review is None

    @property
    def declined(self) -> bool:
        return self.review is not None and self.review.decision == ReviewDecision.DO_NOT_TREAT


@dataclass(frozen=True)
class ScreeningView:
    screening: EligibilityScreening
    status: str  # eligible / needs_review / ineligible, with reviews applied
    findings: list[FindingView]
    rule_ids: dict[str, list[str]] = field(default_factory=dict)  # absolute/unreviewed/declined

    @property
    def status_label(self) -> str:
        return ScreeningStatus(self.status).label


def screening_latest(*, patient: Patient) -> ScreeningView | None:
    """The latest screening with prescribers' reviews applied: a relative finding is settled by
    a review of the same rule over the same evidence (new evidence needs a new review)."""
    run = EligibilityScreening.objects.filter(patient=patient).prefetch_related("findings").first()
    if run is None:
        return None
    reviews: dict[tuple[str, str], PrescriberReview] = {}
    for review in PrescriberReview.objects.filter(patient=patient).select_related("reviewed_by"):
        reviews.setdefault((review.rule_id, review.evidence), review)  # newest first
    rules = screening.rule_table().rules
    views = []
    for finding in run.findings.all():
        rule = rules.get(finding.rule_id)
        review = (
            reviews.get((finding.rule_id, finding.evidence))
            if finding.severity == "relative" and rule is not None and rule.reviewable
            else None
        )
        views.append(FindingView(finding, bool(rule and rule.reviewable), review))
    absolute = [v.finding.rule_id for v in views if v.finding.severity == "absolute"]
    unreviewed = [v.finding.rule_id for v in views if v.needs_review]
    declined = [v.finding.rule_id for v in views if v.declined]
    if absolute or declined:
        status = ScreeningStatus.INELIGIBLE
    elif unreviewed:
        status = ScreeningStatus.NEEDS_REVIEW
    else:
        status = ScreeningStatus.ELIGIBLE
    return ScreeningView(
        screening=run,
        status=status,
        findings=views,
        rule_ids={"absolute": absolute, "unreviewed": unreviewed, "declined": declined},
    )


# --- Consent ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsentItem:
    document: ConsentDocument  # the latest version
    signature: ConsentSignature | None  # the patient's signature on that version
    earlier_signature: ConsentSignature | None  # on an older version, if any

    @property
    def current(self) -> bool:
        return self.signature is not None and self.signature.is_complete


def consent_documents_current() -> list[ConsentDocument]:
    """The latest version of each consent document."""
    latest = ConsentDocument.objects.values("code").annotate(v=Max("version"))
    wanted = {(row["code"], row["v"]) for row in latest}
    return [d for d in ConsentDocument.objects.order_by("code") if (d.code, d.version) in wanted]


def consent_status(*, patient: Patient) -> list[ConsentItem]:
    signatures = list(
        ConsentSignature.objects.filter(patient=patient).select_related(
            "document", "countersigned_by"
        )
    )
    items = []
    for document in consent_documents_current():
        on_latest = next((s for s in signatures if s.document_id == document.pk), None)
        earlier = next(
            (
                s
                for s in signatures
                if s.document.code == document.code and s.document_id != document.pk
            ),
            None,
        )
        items.append(ConsentItem(document, on_latest, earlier))
    return items


def signature_get_for_user(*, user: User, signature_id: int | str) -> ConsentSignature:
    pk = id_from_path(signature_id)
    signature = (
        ConsentSignature.objects.filter(pk=pk, patient__in=patients_visible_to(user=user))
        .select_related("patient", "document")
        .first()
        if pk is not None
        else None
    )
    if signature is None:
        raise denied(user, "intake.ConsentSignature", signature_id)
    return signature


# --- The booking gate -------------------------------------------------------------------------


def patient_may_be_booked(*, patient: Patient) -> tuple[bool, list[str]]:
    """Whether an infusion may be booked (or an order signed) for this patient now, and if not,
    why, in plain words with the rule ids. Blocks on: intake not submitted (PROT-3), no
    screening, an absolute contraindication (ELIG-A*), a relative finding not reviewed or
    reviewed as do-not-treat (ELIG-B*), and a required consent document whose latest version is
    not signed and countersigned (PROT-C1, PROT-C2)."""
    reasons: list[str] = []
    intake = Intake.objects.filter(patient=patient).first()
    if intake is None or intake.status != IntakeStatus.SUBMITTED:
        reasons.append("The intake has not been submitted (PROT-3).")
    view = screening_latest(patient=patient)
    if view is None:
        reasons.append("The patient has not been screened for eligibility.")
    else:
        if view.screening.rules_version != screening.rule_table().version:
            reasons.append("The screening rules changed since the last screening: run it again.")
        if view.rule_ids["absolute"]:
            reasons.append(
                "Not eligible: absolute contraindication "
                + ", ".join(view.rule_ids["absolute"])
                + "."
            )
        if view.rule_ids["declined"]:
            reasons.append(
                "A prescriber decided not to treat: " + ", ".join(view.rule_ids["declined"]) + "."
            )
        if view.rule_ids["unreviewed"]:
            reasons.append(
                "Findings wait for a prescriber's review: "
                + ", ".join(view.rule_ids["unreviewed"])
                + "."
            )
    for item in consent_status(patient=patient):
        if not item.document.required or item.current:
            continue
        what = f"{item.document.title} (version {item.document.version})"
        if item.signature is not None:
            reasons.append(f"Consent not yet countersigned by staff: {what} (PROT-C1).")
        elif item.earlier_signature is not None:
            reasons.append(f"A new version needs the patient's signature: {what} (PROT-C2).")
        else:
            reasons.append(f"Consent not signed: {what} (PROT-C1).")
    return (not reasons, reasons)
