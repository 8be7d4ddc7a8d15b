"""Pages for referral, intake, screening and consent. Patient data is reached through
`patient_get_for_user` (404 + `denied` event for anyone who may not see the patient); the role's
capability is checked after that (403)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from infusionclinic.accounts.roles import Perm
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.access import require_perm
from infusionclinic.patients import services as patient_services
from infusionclinic.patients.forms import ProviderChoiceForm, apply_service_errors
from infusionclinic.patients.models import Patient
from infusionclinic.patients.selectors import locations_for_user, patient_get_for_user

from . import chart_offers, services
from .forms import (
    AcceptForm,
    AmendForm,
    ConsentReviewForm,
    CountersignForm,
    IntakeForm,
    OfferAcceptForm,
    PriorTreatmentForm,
    ReferralForm,
    ReviewForm,
    SignForm,
)
from .models import ConsentDocument, ConsentSignature, Intake, PriorTreatment, ReferralStatus
from .selectors import (
    consent_status,
    patient_may_be_booked,
    referral_get_for_user,
    referrals_visible_to,
    screening_latest,
    signature_get_for_user,
)


def _viewed(request: HttpRequest, patient: Patient, page: str) -> None:
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient=patient,
        obj=patient,
        detail={"page": page},
    )


def _own_patient(request: HttpRequest) -> Patient:
    patient = getattr(request.user, "patient", None)
    if patient is None:
        raise Http404("No chart is linked to this log-in.")
    return patient


# --- Intake -----------------------------------------------------------------------------------


@login_required
def my_intake(request: HttpRequest) -> HttpResponse:
    return redirect("intake:intake", patient_id=_own_patient(request).pk)


@login_required
def intake_page(request: HttpRequest, patient_id: int) -> HttpResponse:
    """The intake form. htmx posts each change (autosave, answered with a status line); the
    buttons save the draft or submit it. A submitted intake is shown read-only."""
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    require_perm(request, Perm.CHART_VIEW_CLINICAL)
    intake = Intake.objects.filter(patient=patient).first()
    hide_pregnancy = patient.sex_at_birth == "male"
    if request.method == "POST":
        require_perm(request, Perm.INTAKE_EDIT)
        return _intake_post(request, patient, intake, hide_pregnancy)
    _viewed(request, patient, "intake")
    form = IntakeForm(
        initial=IntakeForm.initial_from(intake) if intake else {}, hide_pregnancy=hide_pregnancy
    )
    return _render_intake(request, patient, intake, form)


def _render_intake(
    request: HttpRequest,
    patient: Patient,
    intake: Intake | None,
    form: IntakeForm,
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "intake/intake.html",
        {
            "patient": patient,
            "intake": intake,
            "form": form,
            "amendments": [
                (a, form.amendment_lines(a.changes))
                for a in (intake.amendments.select_related("amended_by") if intake else [])
            ],
            "can_edit": request.user.has_role_perm(Perm.INTAKE_EDIT),
            "can_amend": request.user.has_role_perm(Perm.INTAKE_AMEND),
        },
        status=status,
    )


def _intake_post(
    request: HttpRequest, patient: Patient, intake: Intake | None, hide_pregnancy: bool
) -> HttpResponse:
    autosave = bool(request.headers.get("HX-Request"))
    submit = request.POST.get("action") == "submit"
    form = IntakeForm(request.POST, hide_pregnancy=hide_pregnancy)
    error = ""
    if form.is_valid():
        try:
            services.intake_save(
                actor=request.user,
                patient=patient,
                values=form.values(only_sent=autosave),
                submit=submit and not autosave,
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
            error = "; ".join(
                f"{form.fields[f].label if f in form.fields else f}: {' '.join(m)}"
                for f, m in exc.message_dict.items()
            )
        except services.IntakeLockedError as exc:
            error = str(exc)
    else:
        error = "Some answers could not be read."
    if autosave:
        saved_at = timezone.localtime(timezone=patient.home_location.tzinfo)
        return render(
            request,
            "intake/_autosave_status.html",
            {"error": error, "saved_at": saved_at},
        )
    if not error:
        messages.success(
            request,
            "Intake submitted. Thank you." if submit else "Draft saved. You can come back later.",
        )
        return redirect("intake:intake", patient_id=patient.pk)
    intake = Intake.objects.filter(patient=patient).first()
    return _render_intake(request, patient, intake, form, status=400)


@login_required
@require_POST
def intake_offer_accept(request: HttpRequest, patient_id: int) -> HttpResponse:
    """Issue 21 point 3: one intake answer (or a referral's diagnosis) into the chart. The
    service checks the role's capability for that item (403)."""
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    form = OfferAcceptForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose what to accept into the chart.")
    else:
        try:
            transfer = chart_offers.intake_offer_accept(
                actor=request.user, patient=patient, key=form.cleaned_data["item"]
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"{transfer.get_item_display()} accepted into the chart.")
    if form.is_valid() and form.cleaned_data.get("back_to") == "intake":
        return redirect("intake:intake", patient_id=patient.pk)
    return redirect("patients:chart", patient_id=patient.pk)


@login_required
def intake_amend(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    require_perm(request, Perm.INTAKE_AMEND)
    intake = Intake.objects.filter(patient=patient).first()
    if intake is None or not intake.is_locked:
        messages.info(request, "The intake is not submitted yet; edit it directly.")
        return redirect("intake:intake", patient_id=patient.pk)
    hide_pregnancy = patient.sex_at_birth == "male"
    form = AmendForm(
        request.POST or None, initial=IntakeForm.initial_from(intake), hide_pregnancy=hide_pregnancy
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            values = form.values()
            reason = values.pop("reason")
            try:
                services.intake_amend(
                    actor=request.user, patient=patient, values=values, reason=reason
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, "Intake amended.")
                return redirect("intake:intake", patient_id=patient.pk)
        status = 400
    else:
        _viewed(request, patient, "intake_amend")
    return render(request, "intake/amend.html", {"patient": patient, "form": form}, status=status)


# --- Screening --------------------------------------------------------------------------------


def _render_screening(request: HttpRequest, patient: Patient, **forms: Any) -> HttpResponse:
    user = request.user
    view = screening_latest(patient=patient)
    bookable, reasons = patient_may_be_booked(patient=patient)
    review_form = forms.get("review_form")
    return render(
        request,
        "intake/screening.html",
        {
            "patient": patient,
            "view": view,
            "bookable": bookable,
            "reasons": reasons,
            "treatments": list(PriorTreatment.objects.filter(patient=patient)),
            "treatment_form": forms.get("treatment_form") or PriorTreatmentForm(),
            "review_form": review_form,
            "review_rule": review_form.data.get("rule_id") if review_form else None,
            "can_run": user.has_role_perm(Perm.SCREENING_RUN),
            "can_review": user.has_role_perm(Perm.SCREENING_REVIEW),
            "can_add_treatment": user.has_role_perm(Perm.PRIOR_TREATMENT_EDIT),
        },
        status=400 if forms else 200,
    )


@login_required
def screening_page(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    require_perm(request, Perm.SCREENING_VIEW)
    if request.method == "POST":
        require_perm(request, Perm.SCREENING_RUN)
        services.screening_run(actor=request.user, patient=patient)
        messages.success(request, "Screening run on the current data.")
        return redirect("intake:screening", patient_id=patient.pk)
    _viewed(request, patient, "screening")
    return _render_screening(request, patient)


@login_required
@require_POST
def screening_review(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    require_perm(request, Perm.SCREENING_REVIEW)
    form = ReviewForm(request.POST)
    if form.is_valid():
        try:
            services.screening_review(actor=request.user, patient=patient, **form.cleaned_data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, f"Review of {form.cleaned_data['rule_id']} recorded.")
            return redirect("intake:screening", patient_id=patient.pk)
    return _render_screening(request, patient, review_form=form)


@login_required
@require_POST
def treatment_add(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    require_perm(request, Perm.PRIOR_TREATMENT_EDIT)
    form = PriorTreatmentForm(request.POST)
    if form.is_valid():
        try:
            services.prior_treatment_add(actor=request.user, patient=patient, **form.cleaned_data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, "Prior treatment recorded; screening updated.")
            return redirect("intake:screening", patient_id=patient.pk)
    return _render_screening(request, patient, treatment_form=form)


# --- Consent ----------------------------------------------------------------------------------


@login_required
def my_consent(request: HttpRequest) -> HttpResponse:
    """The patient's own review-and-sign page, at a portal address (issue 21 point 12)."""
    patient = _own_patient(request)
    return _consent(request, patient_get_for_user(user=request.user, patient_id=patient.pk))


def _documents_due(items: list[Any]) -> list[ConsentDocument]:
    """The current versions the patient has not signed yet, in the page's order."""
    return [item.document for item in items if item.signature is None]


def _render_consent(
    request: HttpRequest,
    patient: Patient,
    sign_form: SignForm | None = None,
    review_form: ConsentReviewForm | None = None,
) -> HttpResponse:
    user = request.user
    items = consent_status(patient=patient)
    can_sign = user.has_role_perm(Perm.CONSENT_SIGN) and patient.user_id == user.pk
    due = _documents_due(items)
    if can_sign and due and review_form is None:
        review_form = ConsentReviewForm(documents=due)
    return render(
        request,
        "intake/consent.html",
        {
            "patient": patient,
            "items": items,
            "due": [
                (item, review_form.agree_field(item.document))
                for item in items
                if item.signature is None and review_form is not None
            ],
            "can_sign": can_sign,
            "can_countersign": user.has_role_perm(Perm.CONSENT_COUNTERSIGN),
            "sign_form": sign_form,
            "review_form": review_form if can_sign else None,
        },
        status=400 if (sign_form or (review_form is not None and review_form.is_bound)) else 200,
    )


@login_required
def consent_page(request: HttpRequest, patient_id: int) -> HttpResponse:
    """The current version of each consent document, what the patient signed, and the forms to
    sign (the patient) and to countersign (staff)."""
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    return _consent(request, patient)


def _consent(request: HttpRequest, patient: Patient) -> HttpResponse:
    require_perm(request, Perm.CHART_VIEW_CLINICAL)
    if request.method == "POST":
        require_perm(request, Perm.CONSENT_SIGN)
        if "document" not in request.POST:
            return _consent_sign_all(request, patient)
        form = SignForm(request.POST)
        if form.is_valid():
            document = ConsentDocument.objects.filter(pk=form.cleaned_data["document"]).first()
            try:
                if document is None:
                    raise ValidationError({"document": ["No such document."]})
                services.consent_sign(
                    actor=request.user,
                    patient=patient,
                    document=document,
                    typed_name=form.cleaned_data["typed_name"],
                    agreed=form.cleaned_data["agreed"],
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, f"Signed: {document.title}.")
                return redirect("intake:my_consent")
        return _render_consent(request, patient, sign_form=form)
    _viewed(request, patient, "consent")
    return _render_consent(request, patient)


def _consent_sign_all(request: HttpRequest, patient: Patient) -> HttpResponse:
    """One review-and-sign act over every document due (issue 21 point 12); the patient then
    lands on their portal home, not on a staff address."""
    due = _documents_due(consent_status(patient=patient))
    form = ConsentReviewForm(request.POST, documents=due)
    if form.is_valid():
        try:
            signatures = services.consent_sign_all(
                actor=request.user,
                patient=patient,
                documents=due,
                typed_name=form.cleaned_data["typed_name"],
                agreed_codes=form.agreed_codes(),
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(
                request,
                f"Signed {len(signatures)} consent document"
                f"{'s' if len(signatures) != 1 else ''}: "
                + ", ".join(s.document.title for s in signatures)
                + ".",
            )
            return redirect("portal:home")
    return _render_consent(request, patient, review_form=form)


@login_required
@require_POST
def consent_countersign(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    require_perm(request, Perm.CONSENT_COUNTERSIGN)
    form = CountersignForm(request.POST)
    signature = (
        ConsentSignature.objects.filter(patient=patient, pk=form.cleaned_data["signature"]).first()
        if form.is_valid()
        else None
    )
    if signature is None:
        messages.error(request, "Choose a signature of this patient to countersign.")
        return redirect("intake:consent", patient_id=patient.pk)
    try:
        services.consent_countersign(actor=request.user, patient=patient, signature=signature)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Countersigned: {signature.document.title}.")
    return redirect("intake:consent", patient_id=patient.pk)


@login_required
def consent_pdf(request: HttpRequest, signature_id: int) -> HttpResponse:
    signature = signature_get_for_user(user=request.user, signature_id=signature_id)
    require_perm(request, Perm.CHART_VIEW_CLINICAL)
    if not signature.pdf:
        raise Http404("No PDF stored.")
    audit_record(
        actor=request.user,
        action=AuditAction.EXPORT,
        patient=signature.patient,
        obj=signature,
        detail={"format": "pdf", "sha256": signature.pdf_sha256},
    )
    name = signature.pdf.name.rsplit("/", 1)[-1]
    return FileResponse(
        signature.pdf.open("rb"), as_attachment=True, filename=name, content_type="application/pdf"
    )


# --- Referrals --------------------------------------------------------------------------------


@login_required
def referral_list(request: HttpRequest) -> HttpResponse:
    require_perm(request, Perm.REFERRAL_MANAGE)
    referrals = list(
        referrals_visible_to(user=request.user).select_related("location", "patient")[:100]
    )
    return render(request, "intake/referral_list.html", {"referrals": referrals})


@login_required
def referral_create(request: HttpRequest) -> HttpResponse:
    require_perm(request, Perm.REFERRAL_MANAGE)
    locations = {loc.code: loc for loc in locations_for_user(user=request.user)}
    form = ReferralForm(
        request.POST or None, location_choices=[(c, loc.name) for c, loc in locations.items()]
    )
    choice_form = ProviderChoiceForm(request.POST or None)
    conflict = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                provider = None
                if data["referring_provider_name"] or data["referring_provider_npi"]:
                    provider = patient_services.referring_provider_get_or_create(
                        name=data["referring_provider_name"],
                        practice=data["referring_provider_practice"],
                        phone=data["referring_provider_phone"],
                        email=data["referring_provider_email"],
                        npi=data["referring_provider_npi"],
                        actor=request.user,
                        on_conflict=choice_form.choice(),
                    )
                referral = services.referral_create(
                    actor=request.user,
                    location=locations[data["location"]],
                    source=data["source"],
                    source_reference=data["source_reference"],
                    given_name=data["given_name"],
                    family_name=data["family_name"],
                    birth_date=data["birth_date"],
                    sex_at_birth=data["sex_at_birth"],
                    email=data["email"],
                    phone=data["phone"],
                    reason=data["reason"],
                    diagnosis_codes=[c for c in data["diagnosis_codes"].split(",") if c.strip()],
                    referring_provider=provider,
                )
        except patient_services.ReferringProviderConflict as exc:
            # Issue 21 point 1: shown, with the stored record and the three choices.
            conflict = exc
            choice_form = ProviderChoiceForm(conflict=exc)
        except ValidationError as exc:
            mapped = {
                ("referring_provider_name" if k == "referring_provider" else k): v
                for k, v in exc.message_dict.items()
            }
            apply_service_errors(form, ValidationError(mapped))
        else:
            messages.success(request, "Referral recorded.")
            return redirect("intake:referral", referral_id=referral.pk)
    return render(
        request,
        "intake/referral_form.html",
        {"form": form, "provider_conflict": conflict, "provider_choice_form": choice_form},
        status=409 if conflict else (400 if form.is_bound else 200),
    )


def _render_referral(request: HttpRequest, referral: Any, **forms: Any) -> HttpResponse:
    duplicates = (
        services.referral_duplicates(actor=request.user, referral=referral)
        if referral.status == ReferralStatus.NEW
        else []
    )
    return render(
        request,
        "intake/referral_detail.html",
        {
            "referral": referral,
            "treatments": list(referral.treatments.all()),
            "duplicates": duplicates,
            "treatment_form": forms.get("treatment_form") or PriorTreatmentForm(),
            "accept_errors": forms.get("accept_errors"),
        },
        status=400 if forms else 200,
    )


@login_required
def referral_detail(request: HttpRequest, referral_id: int) -> HttpResponse:
    referral = referral_get_for_user(user=request.user, referral_id=referral_id)
    audit_record(
        actor=request.user, action=AuditAction.VIEW, patient=referral.patient, obj=referral
    )
    return _render_referral(request, referral)


@login_required
@require_POST
def referral_treatment_add(request: HttpRequest, referral_id: int) -> HttpResponse:
    referral = referral_get_for_user(user=request.user, referral_id=referral_id)
    form = PriorTreatmentForm(request.POST)
    if form.is_valid():
        try:
            services.prior_treatment_add(actor=request.user, referral=referral, **form.cleaned_data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, "Prior treatment recorded.")
            return redirect("intake:referral", referral_id=referral.pk)
    return _render_referral(request, referral, treatment_form=form)


@login_required
@require_POST
def referral_accept(request: HttpRequest, referral_id: int) -> HttpResponse:
    referral = referral_get_for_user(user=request.user, referral_id=referral_id)
    form = AcceptForm(request.POST)
    form.is_valid()
    link_id = form.cleaned_data.get("link_patient")
    link = (
        next(
            (
                p
                for p in services.referral_duplicates(actor=request.user, referral=referral)
                if p.pk == link_id
            ),
            None,
        )
        if link_id
        else None
    )
    try:
        patient = services.referral_accept(
            actor=request.user,
            referral=referral,
            link_patient=link,
            create_new=bool(form.cleaned_data.get("create_new")),
        )
    except ValidationError as exc:
        return _render_referral(request, referral, accept_errors=exc.messages)
    messages.success(request, f"Referral accepted; intake opened for {patient.display_name}.")
    return redirect("patients:chart", patient_id=patient.pk)
