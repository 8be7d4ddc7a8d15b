"""Pages: staff see scores, charts and alerts, assign instruments, enter and amend answers;
prescribers acknowledge safety alerts; patients fill in their own questionnaires in the portal.

Routes that act on one assessment or alert take its id as a form/query field, not in the path:
the path keeps only `patient_id`, so the generated access matrix covers every page here."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from infusionclinic.accounts.roles import Perm
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.access import require_perm
from infusionclinic.infusions.selectors import infusion_dates
from infusionclinic.patients.forms import apply_service_errors
from infusionclinic.patients.models import Patient
from infusionclinic.patients.selectors import patient_get_for_user

from . import selectors, services
from .chart import progress_chart_svg
from .forms import AcknowledgeForm, AmendForm, AnswersForm, AssignForm
from .models import Assessment, InstrumentDefinition


def _outcomes_context(request: HttpRequest, patient: Patient) -> dict[str, object]:
    scored = selectors.scored_assessments(patient=patient)
    current = selectors.instruments_current()
    by_code: dict[str, list[selectors.ScoredAssessment]] = {}
    for item in scored:
        by_code.setdefault(item.assessment.instrument.code, []).append(item)
    tz = patient.home_location.tzinfo
    sections = []
    for definition in current:
        rows = by_code.get(definition.code, [])
        if not rows:
            continue
        sections.append(
            {
                "spec": definition.spec,
                "rows": list(reversed(rows)),
                "chart": progress_chart_svg(
                    spec=rows[-1].spec,
                    points=[(r.assessment.completed_at, r.assessment.total) for r in rows],
                    tz=tz,
                    infusion_dates=infusion_dates(patient=patient),
                ),
            }
        )
    assignments = selectors.assignments_active(patient=patient)
    assigned = {a.instrument_code for a in assignments}
    return {
        "patient": patient,
        "sections": sections,
        "assignments": assignments,
        "instruments": current,
        "alerts": selectors.alerts_for_patient(patient=patient),
        "assign_form": AssignForm(codes=[d.code for d in current if d.code not in assigned]),
        "ack_form": AcknowledgeForm(),
        "can_assign": request.user.has_role_perm(Perm.INSTRUMENT_ASSIGN),
        "can_enter": request.user.has_role_perm(Perm.ASSESSMENT_ENTER),
        "can_ack": request.user.has_role_perm(Perm.SAFETY_ALERT_ACK),
    }


@login_required
def patient_outcomes(request: HttpRequest, patient_id: int) -> HttpResponse:
    """GET: scores and charts. POST: assign (or stop) an instrument for this patient."""
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    require_perm(request, Perm.OUTCOMES_VIEW)
    status = 200
    if request.method == "POST":
        require_perm(request, Perm.INSTRUMENT_ASSIGN)
        code = request.POST.get("instrument", "")
        try:
            if request.POST.get("stop"):
                assignment = next(
                    a
                    for a in selectors.assignments_active(patient=patient)
                    if a.instrument_code == code
                )
                services.instrument_unassign(actor=request.user, assignment=assignment)
                messages.success(request, f"{code} is no longer assigned.")
            else:
                services.instrument_assign(
                    actor=request.user, patient=patient, instrument_code=code
                )
                messages.success(request, f"{code} assigned.")
            return redirect("outcomes:patient", patient_id=patient.pk)
        except (ValidationError, StopIteration):
            messages.error(request, "Choose a questionnaire from the list.")
            status = 400
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient=patient,
        obj=patient,
        detail={"page": "outcomes"},
    )
    return render(
        request,
        "outcomes/patient_outcomes.html",
        _outcomes_context(request, patient),
        status=status,
    )


def _instrument_or_none(code: str) -> InstrumentDefinition | None:
    try:
        return services.instrument_current(code=code)
    except ValidationError:
        return None


def _answers_page(
    request: HttpRequest,
    patient: Patient,
    definition: InstrumentDefinition,
    *,
    template: str,
    done_url: str,
    extra: dict[str, object] | None = None,
    submit: Callable[..., Assessment] | None = None,
) -> HttpResponse:
    """Shared GET/POST of an answers form: "save" keeps a draft, "submit" scores and locks.
    `submit` replaces services.assessment_submit (same keywords), e.g. a home check-in's."""
    draft = selectors.draft_get(patient=patient, instrument=definition)
    form = AnswersForm(
        request.POST or None,
        spec=definition.spec,
        initial_answers=draft.answers if draft else (),
    )
    status = 200
    if request.method == "GET":
        audit_record(
            actor=request.user,
            action=AuditAction.VIEW,
            patient=patient,
            obj=draft or patient,
            detail={"page": "questionnaire", "instrument": definition.code},
        )
    if request.method == "POST" and form.is_valid():
        try:
            if "submit" in request.POST:
                assessment = (submit or services.assessment_submit)(
                    actor=request.user,
                    patient=patient,
                    instrument_code=definition.code,
                    answers=form.answers(),
                )
                if assessment.alerts.exists() and request.user.is_clinic_staff:
                    messages.warning(
                        request, "Safety alert raised: see Safety alerts below (SCALE-4)."
                    )
                return redirect(done_url.format(id=assessment.pk))
            services.assessment_save_draft(
                actor=request.user,
                patient=patient,
                instrument_code=definition.code,
                answers=form.answers(),
            )
            messages.success(request, "Answers saved. You can finish later.")
            return redirect(request.get_full_path())
        except ValidationError as exc:
            form.apply_errors(exc)
    if request.method == "POST":
        status = 400
    return render(
        request,
        template,
        {
            "form": form,
            "spec": definition.spec,
            "patient": patient,
            "draft": draft,
            **(extra or {}),
        },
        status=status,
    )


@login_required
def assessment_entry(request: HttpRequest, patient_id: int) -> HttpResponse:
    """Staff enter answers on the patient's behalf (?instrument=PHQ-9)."""
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    require_perm(request, Perm.ASSESSMENT_ENTER)
    definition = _instrument_or_none(
        request.POST.get("instrument") or request.GET.get("instrument", "")
    )
    if definition is None:
        messages.error(request, "Choose a questionnaire to enter.")
        return redirect("outcomes:patient", patient_id=patient.pk)
    return _answers_page(
        request,
        patient,
        definition,
        template="outcomes/entry.html",
        done_url=reverse("outcomes:patient", kwargs={"patient_id": patient.pk}) + "?submitted={id}",
    )


@login_required
def assessment_amend(request: HttpRequest, patient_id: int) -> HttpResponse:
    """Correct a submitted response (?assessment=<id>), with a reason."""
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    require_perm(request, Perm.ASSESSMENT_ENTER)
    assessment_id = request.POST.get("assessment") or request.GET.get("assessment")
    if not assessment_id:
        messages.error(request, "Choose a response to amend.")
        return redirect("outcomes:patient", patient_id=patient.pk)
    assessment = selectors.assessment_get(patient=patient, assessment_id=assessment_id)
    if not assessment.is_locked:
        raise Http404("Only submitted responses are amended.")
    spec = assessment.instrument.spec
    form = AmendForm(request.POST or None, spec=spec, initial_answers=assessment.answers)
    status = 200
    if request.method == "GET":
        audit_record(
            actor=request.user,
            action=AuditAction.VIEW,
            patient=patient,
            obj=assessment,
            detail={"page": "amend"},
        )
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                services.assessment_amend(
                    actor=request.user,
                    assessment=assessment,
                    answers=form.answers(),
                    reason=form.cleaned_data["reason"],
                )
            except ValidationError as exc:
                form.apply_errors(exc)
            else:
                messages.success(request, "Response amended.")
                return redirect("outcomes:patient", patient_id=patient.pk)
    return render(
        request,
        "outcomes/amend.html",
        {"form": form, "spec": spec, "patient": patient, "assessment": assessment},
        status=status,
    )


@login_required
@require_POST
def alert_acknowledge(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    require_perm(request, Perm.SAFETY_ALERT_ACK)
    alert_id = request.POST.get("alert")
    if not alert_id:
        messages.error(request, "Choose an alert to acknowledge.")
        return redirect("outcomes:patient", patient_id=patient.pk)
    alert = selectors.alert_get(patient=patient, alert_id=alert_id)
    form = AcknowledgeForm(request.POST)
    if form.is_valid():
        try:
            services.safety_alert_acknowledge(
                actor=request.user, alert=alert, action_taken=form.cleaned_data["action_taken"]
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, "Alert acknowledged.")
            return redirect("outcomes:patient", patient_id=patient.pk)
    context = _outcomes_context(request, patient)
    context["ack_form"] = form
    context["ack_alert_id"] = alert.pk
    return render(request, "outcomes/patient_outcomes.html", context, status=400)


@login_required
def alert_list(request: HttpRequest) -> HttpResponse:
    """Open safety alerts at the prescriber's locations (SCALE-4)."""
    require_perm(request, Perm.SAFETY_ALERT_ACK)
    alerts = selectors.open_alerts_for_user(user=request.user)
    audit_record(
        actor=request.user,
        action=AuditAction.SEARCH,
        detail={"page": "safety alerts", "patient_ids": sorted({a.patient_id for a in alerts})},
    )
    return render(request, "outcomes/alert_list.html", {"alerts": alerts})


# --- Patient portal ------------------------------------------------------------------------------


def _own_patient(request: HttpRequest) -> Patient:
    require_perm(request, Perm.ASSESSMENT_SELF_REPORT)
    patient = getattr(request.user, "patient", None)
    if patient is None:
        raise Http404("No chart is linked to this log-in.")
    return patient_get_for_user(user=request.user, patient_id=patient.pk)


def _portal_instruments(patient: Patient) -> list[InstrumentDefinition]:
    assigned = {a.instrument_code for a in selectors.assignments_active(patient=patient)}
    return [d for d in selectors.instruments_current() if d.code in assigned and d.spec.portal]


@login_required
def my_questionnaires(request: HttpRequest) -> HttpResponse:
    patient = _own_patient(request)
    rows = [
        {
            "definition": d,
            "draft": selectors.draft_get(patient=patient, instrument=d),
            "last": (selectors.score_history(patient=patient, instrument_code=d.code) or [None])[
                -1
            ],
        }
        for d in _portal_instruments(patient)
    ]
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient=patient,
        obj=patient,
        detail={"page": "my questionnaires"},
    )
    return render(request, "outcomes/my_list.html", {"rows": rows, "patient": patient})


@login_required
def my_questionnaire(request: HttpRequest, instrument_code: str) -> HttpResponse:
    patient = _own_patient(request)
    definition = next((d for d in _portal_instruments(patient) if d.code == instrument_code), None)
    if definition is None:
        raise Http404("This questionnaire is not assigned to you.")
    return _answers_page(
        request,
        patient,
        definition,
        template="outcomes/my_fill.html",
        done_url=reverse("outcomes:my_done", kwargs={"assessment_id": 0}).replace("/0/", "/{id}/"),
    )


@login_required
def my_questionnaire_done(request: HttpRequest, assessment_id: int) -> HttpResponse:
    """Thanks the patient; shows crisis resources at once when the answers raised an alert."""
    patient = _own_patient(request)
    assessment = selectors.assessment_get(patient=patient, assessment_id=assessment_id)
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient=patient,
        obj=assessment,
        detail={"page": "questionnaire submitted"},
    )
    return render(
        request,
        "outcomes/my_done.html",
        {
            "assessment": assessment,
            "show_crisis": assessment.alerts.exists(),
            "crisis_line": settings.OUTCOMES_CRISIS_LINE,
            "clinic_location": patient.home_location,
        },
    )


# The answers page other apps reuse for their own questionnaires (courses' home check-ins).
answers_page = _answers_page
