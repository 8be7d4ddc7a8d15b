"""Pages: a patient's courses (and starting one); a course with its phase history, the proposal
from its score history, and the prescriber's decision; the clinic's protocols."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from infusionclinic.accounts.roles import Perm
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.access import require_perm
from infusionclinic.outcomes.safety import safety_alert_gate, safety_alert_seen_record
from infusionclinic.outcomes.services import instrument_current
from infusionclinic.outcomes.views import answers_page
from infusionclinic.patients.forms import apply_service_errors
from infusionclinic.patients.selectors import patient_get_for_user

from . import checkins, services
from .forms import CourseStartForm, PhaseDecisionForm, ProtocolForm
from .models import TreatmentCourse
from .selectors import (
    course_decisions,
    course_get_for_user,
    course_induction_end,
    course_proposal_from_scores,
    course_review_due,
    courses_for_patient,
    indication_evidence,
    induction_presets,
    maintenance_evidence,
    protocol_get_for_user,
    protocols_current,
)


@login_required
def patient_courses(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    require_perm(request, Perm.COURSE_VIEW)
    can_manage = request.user.has_role_perm(Perm.COURSE_MANAGE)
    form = CourseStartForm(request.POST or None) if can_manage else None
    # Issue 21 point 9: an open SCALE-4 alert is shown, and must be seen, before a course starts.
    safety = safety_alert_gate(request=request, patient=patient, step="course-start")
    safety_error = ""
    status = 200
    if request.method == "POST":
        if form is None:
            raise PermissionDenied
        if form.is_valid() and safety.blocks:
            safety_error = safety.error()
        elif form.is_valid():
            try:
                course = services.course_start(
                    actor=request.user, patient=patient, **form.cleaned_data
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                safety_alert_seen_record(actor=request.user, gate=safety)
                messages.success(request, "Course started in induction.")
                return redirect("courses:course", course_id=course.pk)
        status = 400
    courses = courses_for_patient(patient=patient)
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient=patient,
        detail={"page": "courses", "courses": [c.pk for c in courses]},
    )
    return render(
        request,
        "courses/patient_courses.html",
        {
            "patient": patient,
            "courses": courses,
            "form": form,
            "safety": safety,
            "safety_error": safety_error,
        },
        status=status,
    )


def _render_course(
    request: HttpRequest, course: TreatmentCourse, form: PhaseDecisionForm | None = None
) -> HttpResponse:
    proposal, scores_unavailable = course_proposal_from_scores(course=course)
    can_decide = request.user.has_role_perm(Perm.COURSE_MANAGE) and course.is_open
    return render(
        request,
        "courses/course_detail.html",
        {
            "course": course,
            "patient": course.patient,
            "decisions": course_decisions(course=course),
            "evidence": indication_evidence(course.indication),  # PROT-4
            "maintenance_evidence": maintenance_evidence(),  # PROT-31
            "review_due": (review_due := course_review_due(course=course)),  # PROT-33
            "review_overdue": review_due is not None and review_due < timezone.now(),
            "proposal": proposal,
            "scores_unavailable": scores_unavailable,
            "induction_end": course_induction_end(course=course),
            "form": (form or PhaseDecisionForm()) if can_decide else None,
        },
        status=400 if form is not None else 200,
    )


@login_required
def course_detail(request: HttpRequest, course_id: int) -> HttpResponse:
    course = course_get_for_user(user=request.user, course_id=course_id)
    require_perm(request, Perm.COURSE_VIEW)
    if request.method == "POST":
        require_perm(request, Perm.COURSE_MANAGE)
        form = PhaseDecisionForm(request.POST)
        if form.is_valid():
            proposal, _ = course_proposal_from_scores(course=course)
            try:
                services.phase_decide(
                    actor=request.user,
                    course=course,
                    to_phase=form.cleaned_data["to_phase"],
                    reason=form.cleaned_data["reason"],
                    extension_infusions=form.cleaned_data["extension_infusions"] or 0,
                    proposal=proposal,
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, "Decision recorded.")
                return redirect("courses:course", course_id=course.pk)
        return _render_course(request, course, form)
    audit_record(actor=request.user, action=AuditAction.VIEW, patient=course.patient, obj=course)
    return _render_course(request, course)


def _clinic(request: HttpRequest):  # type: ignore[no-untyped-def]
    location = request.user.locations.select_related("clinic").first()
    if location is None:
        raise PermissionDenied
    return location.clinic


@login_required
def protocol_list(request: HttpRequest) -> HttpResponse:
    require_perm(request, Perm.COURSE_VIEW)
    return render(
        request,
        "courses/protocol_list.html",
        {
            "protocols": protocols_current(clinic=_clinic(request)),
            "can_edit": request.user.has_role_perm(Perm.COURSE_MANAGE),
        },
    )


@login_required
def protocol_edit(request: HttpRequest, protocol_id: int) -> HttpResponse:
    require_perm(request, Perm.COURSE_MANAGE)
    protocol = protocol_get_for_user(user=request.user, protocol_id=protocol_id)
    form = ProtocolForm(request.POST or None, instance=protocol)
    if request.method == "POST":
        if form.is_valid():
            try:
                new = services.protocol_revise(
                    actor=request.user,
                    protocol=protocol,
                    changes={name: form.cleaned_data[name] for name in services.PROTOCOL_EDITABLE},
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, f"Saved as version {new.version}.")
                return redirect("courses:protocols")
        return render(
            request,
            "courses/protocol_form.html",
            {"form": form, "protocol": protocol, "presets": induction_presets()},
            status=400,
        )
    return render(
        request,
        "courses/protocol_form.html",
        {"form": form, "protocol": protocol, "presets": induction_presets()},
    )


# --- Home check-ins in the patient portal (issue 18 section 2) ----------------------------------


@login_required
def checkin_open(request: HttpRequest, token: str) -> HttpResponse:
    """The mailed one-time link: after log-in (login_required keeps it as `next`), it opens the
    check-in once; used, expired or altered, it says so and points to the portal's list."""
    require_perm(request, Perm.ASSESSMENT_SELF_REPORT)
    try:
        checkin = checkins.checkin_link_use(actor=request.user, token=token)
    except checkins.CheckInLinkError as exc:
        return render(
            request, "courses/checkin_link_invalid.html", {"problem": str(exc)}, status=410
        )
    return redirect("courses:my_checkin", checkin_id=checkin.pk)


@login_required
def my_checkins(request: HttpRequest) -> HttpResponse:
    require_perm(request, Perm.ASSESSMENT_SELF_REPORT)
    patient = getattr(request.user, "patient", None)
    if patient is None:
        raise Http404("No chart is linked to this log-in.")
    patient = patient_get_for_user(user=request.user, patient_id=patient.pk)
    rows = checkins.checkins_open_for_patient(patient=patient)
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient=patient,
        obj=patient,
        detail={"page": "my check-ins"},
    )
    return render(request, "courses/my_checkins.html", {"checkins": rows})


@login_required
def my_checkin(request: HttpRequest, checkin_id: int) -> HttpResponse:
    """One check-in's questionnaire; submitting scores it with the one engine (SCALE-4 alerts and
    the crisis resources on the page that follows)."""
    require_perm(request, Perm.ASSESSMENT_SELF_REPORT)
    checkin = checkins.checkin_get_for_patient_user(user=request.user, checkin_id=checkin_id)
    if checkin.assessment_id is not None:
        return redirect("outcomes:my_done", assessment_id=checkin.assessment_id)
    if not checkins.checkin_is_open(checkin):
        raise Http404("This check-in is no longer due.")
    try:
        definition = instrument_current(code=checkin.instrument_code)
    except ValidationError as exc:
        raise Http404("Unknown questionnaire.") from exc
    if not definition.spec.portal:
        raise Http404("This questionnaire is filled in at the clinic.")
    return answers_page(
        request,
        checkin.course.patient,
        definition,
        template="outcomes/my_fill.html",
        done_url=reverse("outcomes:my_done", kwargs={"assessment_id": 0}).replace("/0/", "/{id}/"),
        submit=lambda **kw: checkins.checkin_submit(
            actor=kw["actor"], checkin=checkin, answers=kw["answers"]
        ),
    )
