from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from infusionclinic.accounts.invitations import portal_invitation_resend, portal_invitation_send
from infusionclinic.accounts.roles import Perm
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.access import require_perm

from . import services
from .forms import (
    AllergyForm,
    DiagnosisForm,
    EmergencyAccessForm,
    MeasurementForm,
    MedicationForm,
    PatientCreateForm,
    PatientEditForm,
    apply_service_errors,
)
from .models import Patient
from .selectors import locations_for_user, patient_chart, patient_get_for_user, patient_search


@login_required
@require_http_methods(["GET", "POST"])
def patient_list(request: HttpRequest) -> HttpResponse:
    """The search form POSTs, so what staff type (names, dates of birth) stays out of URLs,
    browser history and access logs. GET lists the first patients (and still reads `q`, for
    links from older pages)."""
    require_perm(request, Perm.PATIENT_SEARCH)
    query = (request.POST if request.method == "POST" else request.GET).get("q", "").strip()[:100]
    patients = patient_search(user=request.user, query=query)
    audit_record(
        actor=request.user,
        action=AuditAction.SEARCH,
        detail={"q": query, "patient_ids": [p.pk for p in patients]},
    )
    template = (
        "patients/_patient_rows.html"
        if request.headers.get("HX-Request")
        else "patients/patient_list.html"
    )
    return render(request, template, {"patients": patients, "q": query})


@login_required
def patient_create(request: HttpRequest) -> HttpResponse:
    require_perm(request, Perm.PATIENT_CREATE)
    locations = {loc.code: loc for loc in locations_for_user(user=request.user)}
    form = PatientCreateForm(
        request.POST or None,
        location_choices=[(code, loc.name) for code, loc in locations.items()],
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                provider = None
                if data["referring_provider_name"] or data["referring_provider_npi"]:
                    provider = services.referring_provider_get_or_create(
                        name=data["referring_provider_name"],
                        practice=data["referring_provider_practice"],
                        phone=data["referring_provider_phone"],
                        email=data["referring_provider_email"],
                        npi=data["referring_provider_npi"],
                    )
                patient = services.patient_create(
                    actor=request.user,
                    location=locations[data["location"]],
                    weight=data["weight"],
                    weight_unit=data["weight_unit"],
                    height=data["height"],
                    height_unit=data["height_unit"],
                    referring_provider=provider,
                    **form.demographics(),
                )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, f"{patient.display_name} registered, MRN {patient.mrn}.")
            return redirect("patients:chart", patient_id=patient.pk)
    return render(
        request,
        "patients/patient_form.html",
        {"form": form, "creating": True},
        status=400 if form.is_bound else 200,
    )


def _render_chart(request: HttpRequest, patient: Patient, **forms: Any) -> HttpResponse:
    chart = patient_chart(user=request.user, patient=patient)
    audit_record(actor=request.user, action=AuditAction.VIEW, patient=patient, obj=patient)
    user = request.user
    context = {
        "chart": chart,
        "patient": patient,
        "can_edit_demographics": user.has_role_perm(Perm.PATIENT_EDIT_DEMOGRAPHICS),
        "can_record_measurement": user.has_role_perm(Perm.MEASUREMENT_RECORD),
        "can_edit_clinical": user.has_role_perm(Perm.CHART_EDIT_CLINICAL),
        "can_edit_diagnoses": user.has_role_perm(Perm.DIAGNOSIS_EDIT),
        "can_view_courses": user.has_role_perm(Perm.COURSE_VIEW),
        "can_view_report": user.has_role_perm(Perm.REPORT_VIEW),
        "can_invite_to_portal": user.has_role_perm(Perm.PATIENT_CREATE),
        "measurement_form": forms.get("measurement_form") or MeasurementForm(),
        "allergy_form": forms.get("allergy_form") or AllergyForm(),
        "medication_form": forms.get("medication_form") or MedicationForm(),
        "diagnosis_form": forms.get("diagnosis_form") or DiagnosisForm(),
    }
    status = 400 if forms else 200
    return render(request, "patients/chart.html", context, status=status)


@login_required
def patient_chart_view(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    return _render_chart(request, patient)


@login_required
def my_chart(request: HttpRequest) -> HttpResponse:
    patient = getattr(request.user, "patient", None)
    if patient is None:
        raise Http404("No chart is linked to this log-in.")
    patient = patient_get_for_user(user=request.user, patient_id=patient.pk)
    return _render_chart(request, patient)


@login_required
def patient_edit(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    require_perm(request, Perm.PATIENT_EDIT_DEMOGRAPHICS)
    initial = {name: getattr(patient, name) for name in services.DEMOGRAPHIC_FIELDS}
    form = PatientEditForm(request.POST or None, initial={**initial, "version": patient.version})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.patient_update(
                    actor=request.user,
                    patient=patient,
                    expected_version=form.cleaned_data["version"],
                    changes=form.demographics(),
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            except services.ConflictError as exc:
                form.add_error(None, str(exc))
                status = 409
            else:
                messages.success(request, "Chart updated.")
                return redirect("patients:chart", patient_id=patient.pk)
        status = status if status != 200 else 400
    else:
        audit_record(
            actor=request.user,
            action=AuditAction.VIEW,
            patient=patient,
            obj=patient,
            detail={"page": "edit"},
        )
    return render(
        request,
        "patients/patient_form.html",
        {"form": form, "patient": patient, "creating": False},
        status=status,
    )


MEASUREMENT_FIELD_MAP = {
    "weight": "value",
    "height": "value",
    "weight_unit": "unit",
    "height_unit": "unit",
}


def _chart_post(
    form_class: type,
    form_name: str,
    perm: Perm,
    write: Callable[..., object],
    field_map: dict[str, str] | None = None,
) -> Callable[[HttpRequest, int], HttpResponse]:
    """A POST handler that adds one entry to a chart section, re-rendering the chart with the
    form's errors when the input is refused."""

    @login_required
    @require_POST
    def view(request: HttpRequest, patient_id: int) -> HttpResponse:
        patient = patient_get_for_user(user=request.user, patient_id=patient_id)
        require_perm(request, perm)
        form = form_class(request.POST)
        if form.is_valid():
            try:
                write(actor=request.user, patient=patient, **form.cleaned_data)
            except ValidationError as exc:
                mapped = {(field_map or {}).get(k, k): v for k, v in exc.message_dict.items()}
                apply_service_errors(form, ValidationError(mapped))
            else:
                messages.success(request, "Saved.")
                return redirect("patients:chart", patient_id=patient.pk)
        return _render_chart(request, patient, **{form_name: form})

    return view


measurement_add = _chart_post(
    MeasurementForm,
    "measurement_form",
    Perm.MEASUREMENT_RECORD,
    services.measurement_record,
    MEASUREMENT_FIELD_MAP,
)
allergy_add = _chart_post(
    AllergyForm, "allergy_form", Perm.CHART_EDIT_CLINICAL, services.allergy_add
)
medication_add = _chart_post(
    MedicationForm, "medication_form", Perm.CHART_EDIT_CLINICAL, services.medication_add
)
diagnosis_add = _chart_post(
    DiagnosisForm, "diagnosis_form", Perm.DIAGNOSIS_EDIT, services.diagnosis_add
)


@login_required
def emergency_access(request: HttpRequest) -> HttpResponse:
    require_perm(request, Perm.EMERGENCY_ACCESS)
    form = EmergencyAccessForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            grant = services.emergency_access_open(
                actor=request.user, mrn=form.cleaned_data["mrn"], reason=form.cleaned_data["reason"]
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.warning(
                request,
                "Emergency access granted until "
                f"{grant.expires_at:%Y-%m-%d %H:%M} UTC. Clinic admins have been told.",
            )
            return redirect("patients:chart", patient_id=grant.patient_id)
    return render(
        request,
        "patients/emergency_access.html",
        {"form": form},
        status=400 if form.is_bound else 200,
    )


@login_required
@require_POST
def portal_invite(request: HttpRequest, patient_id: int) -> HttpResponse:
    """Issue 21 point 2: "Invite to the portal" (or "Resend invitation") on the chart."""
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    require_perm(request, Perm.PATIENT_CREATE)
    resend = request.POST.get("action") == "resend"
    try:
        if resend:
            user = portal_invitation_resend(actor=request.user, patient=patient)
        else:
            user = portal_invitation_send(actor=request.user, patient=patient)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, f"Portal invitation {'sent again' if resend else 'sent'} to {user.email}."
        )
    return redirect("patients:chart", patient_id=patient.pk)
