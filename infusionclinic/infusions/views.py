"""Pages: the day board per location (its list refreshed by htmx polling) and the session page,
whose forms each post to one action that calls one service."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django import forms as django_forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from infusionclinic.accounts.roles import Perm
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.access import location_get_for_user, require_perm
from infusionclinic.outcomes.safety import safety_alert_gate, safety_alert_require_seen
from infusionclinic.patients.forms import apply_service_errors
from infusionclinic.scheduling.models import AppointmentStatus
from infusionclinic.scheduling.selectors import appointment_get_for_user, appointments_visible_to

from . import cs_views, dose, forms, prn, prn_forms, prn_views, rules, selectors, services
from .conf import conf
from .models import InfusionSession, SessionNote, SessionState

BOARD_COLUMNS = [
    SessionState.SCHEDULED,
    SessionState.CHECKED_IN,
    SessionState.PRE_CHECKS,
    SessionState.INFUSING,
    SessionState.PAUSED,
    SessionState.RECOVERING,
    SessionState.DISCHARGED,
    SessionState.CANCELLED,
    SessionState.NO_SHOW,
]


def _require_run(request: HttpRequest) -> None:
    require_perm(request, Perm.SESSION_RUN)


BOARD_DATE_FIRST = dt.date(1970, 1, 1)
BOARD_DATE_LAST = dt.date(2199, 12, 31)


def _board_day(request: HttpRequest, today: dt.date) -> tuple[dt.date, str]:
    """Issue 21 point 12: the board's day from `?date=YYYY-MM-DD` (the location's local
    calendar date); no date is today; a bad one answers today's board with the reason."""
    raw = request.GET.get("date", "").strip()
    if not raw:
        return today, ""
    day = None
    if len(raw) == 10 and raw[4] == "-" and raw[7] == "-":
        try:
            day = dt.date.fromisoformat(raw)
        except ValueError:
            day = None
    if day is None:
        return today, f"“{raw[:40]}” is not a date: give it as YYYY-MM-DD, e.g. {today:%Y-%m-%d}."
    if not BOARD_DATE_FIRST <= day <= BOARD_DATE_LAST:
        return today, (
            f"The board shows days from {BOARD_DATE_FIRST:%Y-%m-%d} to {BOARD_DATE_LAST:%Y-%m-%d}."
        )
    return day, ""


def _board_context(
    request: HttpRequest, location_code: str | None, *, follow_up: bool = False
) -> dict[str, Any]:
    _require_run(request)
    location = location_get_for_user(
        user=request.user, location=location_code, perm=Perm.SESSION_RUN, default_first=True
    )
    today = timezone.now().astimezone(location.tzinfo).date()
    day, date_error = _board_day(request, today)
    sessions = selectors.board_sessions(user=request.user, location=location, day=day)
    start = dt.datetime.combine(day, dt.time.min, tzinfo=location.tzinfo)
    unopened = list(
        appointments_visible_to(user=request.user)
        .filter(
            location=location,
            kind="infusion",
            status=AppointmentStatus.BOOKED,
            starts_at__gte=start,
            starts_at__lt=start + dt.timedelta(days=1),
            session__isnull=True,
        )
        .order_by("starts_at")
    )
    # DIS-6 on the full board only; the polled partial does not show the calls.
    follow_up_calls = (
        selectors.follow_up_calls_due(user=request.user, location=location, day=day)
        if follow_up
        else []
    )
    now = timezone.now()
    rows = []
    for s in sessions:
        overdue = selectors.board_overdue(s, now=now)
        rows.append(
            {
                "session": s,
                "overdue": bool(overdue and overdue.overdue),
                "open_alerts": s.board_open_alerts,
            }
        )
    columns = [
        {"state": state, "rows": [r for r in rows if r["session"].state == state]}
        for state in BOARD_COLUMNS
    ]
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        detail={
            "page": "infusion day board",
            "location": location.code,
            "sessions": len(rows),
            "day": day.isoformat(),
            "follow_up_calls": [c.pk for c in follow_up_calls],  # DIS-6
        },
    )
    return {
        "location": location,
        "locations": request.user.locations.all(),
        "day": day,
        # Issue 21 point 12: previous day / today / next day and the picker carry ?date=.
        "today": today,
        "is_today": day == today,
        "previous_day": day - dt.timedelta(days=1),
        "next_day": day + dt.timedelta(days=1),
        "date_query": "" if day == today else f"?date={day:%Y-%m-%d}",
        "date_error": date_error,
        "columns": columns,
        "unopened": unopened,
        "follow_up_calls": follow_up_calls,
        "now": now,
    }


@login_required
def board(request: HttpRequest, location_code: str | None = None) -> HttpResponse:
    from .facility import facility_check_today

    context = _board_context(request, location_code, follow_up=True)
    context["facility_today"] = facility_check_today(location=context["location"])
    # A bad ?date= is the request's fault: 400 with the reason, today's board below it.
    return render(
        request, "infusions/board.html", context, status=400 if context["date_error"] else 200
    )


@login_required
def board_partial(request: HttpRequest, location_code: str) -> HttpResponse:
    context = _board_context(request, location_code)
    return render(
        request,
        "infusions/_board_columns.html",
        context,
        status=400 if context["date_error"] else 200,
    )


@login_required
@require_POST
def session_open(request: HttpRequest, location_code: str, appointment_id: int) -> HttpResponse:
    _require_run(request)
    appointment = appointment_get_for_user(user=request.user, appointment_id=appointment_id)
    try:
        session = services.session_open_for_appointment(actor=request.user, appointment=appointment)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return redirect("infusions:board", location_code=location_code)
    return redirect("infusions:session", session_id=session.pk)


def _note(session: InfusionSession) -> SessionNote | None:
    return SessionNote.objects.filter(session=session).first()


def _page(request: HttpRequest, session: InfusionSession, bound: dict[str, Any]) -> dict[str, Any]:
    overdue = selectors.reading_overdue(session)
    gate = services.bp_gate_findings(session) if session.state == SessionState.PRE_CHECKS else []
    # Issue 22 point 10: one dose given (infusions/dose.py), with the log's beside it.
    cs = dose.session_dose_check(session)
    data = {
        "session": session,
        "patient": session.patient,
        "order": session.order,
        "dose_given_mg": cs.pump_mg,
        "early_stop": selectors.early_stop(session),  # issue 21 point 5
        # CS-32, CS-43: the controlled-substance log's dose beside the pump's, differences named.
        "cs": cs,
        "can_record_cs": request.user.has_role_perm(Perm.CS_RECORD),
        "overdue": overdue,
        "monitoring_plan": selectors.monitoring_plan(session),  # MON-1..MON-6
        "gate": gate,
        "gate_open": services.bp_gate_open(session) if gate else True,
        "vitals": session.vitals.all(),
        "alerts": session.alerts.select_related("vital", "acknowledged_by"),
        "side_effects": session.side_effects.all(),
        "symptoms": session.symptoms.all(),
        "signs": rules.warning_signs(),
        "questionnaires": (
            selectors.questionnaires_for_visit(session)
            if session.state == SessionState.CHECKED_IN
            else None
        ),
        "catalogue": rules.side_effect_catalogue(),
        "scores": session.discharge_scores.all(),
        # Issue 21 point 10: each recorded score's criteria and options in words.
        "scored": [
            (s, selectors.discharge_score_details(s)) for s in session.discharge_scores.all()
        ],
        "discharge_problems": (
            services.discharge_problems(session) if session.state == SessionState.RECOVERING else []
        ),
        "note": _note(session),
        "pump": session.pump.select_related("actor"),
        "can_override": request.user.has_role_perm(Perm.SESSION_BP_OVERRIDE),
        # Issue 21 point 9: the open SCALE-4 alert, linked, at check-in (seen) and at the
        # pre-checks (which stop on it).
        "safety_check_in": (
            safety_alert_gate(request=request, patient=session.patient, step="check-in")
            if session.state == SessionState.SCHEDULED
            else None
        ),
        "safety_pre_checks": (
            safety_alert_gate(
                request=request,
                patient=session.patient,
                step="pre-checks",
                needs_checkbox=False,
            )
            if session.state == SessionState.CHECKED_IN
            else None
        ),
    }
    for name, (form_class, _) in ACTIONS.items():
        data[name.replace("-", "_") + "_form"] = bound.get(name) or form_class()
    # Issue 21 point 4: MON-BP-3 explained; Resume offered to whom it applies; the nurse records
    # the prescriber's verbal or telephone order, the prescriber co-signs it.
    gate = selectors.resume_gate(session) if session.state == SessionState.PAUSED else None
    data["resume_gate"] = gate
    data["bp_stop"] = (conf("bp_stop_systolic_mmhg"), conf("bp_stop_diastolic_mmhg"))
    data["may_resume"] = gate.may_resume(request.user) if gate else False
    data["verbal_orders"] = session.verbal_orders.select_related(
        "prescriber", "recorded_by", "resume_event"
    )
    zone = session.location.timezone
    verbal_form = data["verbal_order_form"]
    verbal_form.fields["prescriber"].queryset = (
        verbal_form.fields["prescriber"]
        .queryset.filter(locations=session.location)
        .exclude(pk=request.user.pk)
        .order_by("full_name", "pk")
    )
    verbal_form.fields["given_at"].label = f"When the order was given ({zone})"
    data["vitals_form"].fields["taken_at"].label = f"Time taken ({zone})"  # issue 21 point 12
    data.update(cs_views.cs_context(request, session, data["cs"], bound))  # issue 21 point 6
    data["billing"] = cs_views.billing_context(request, session)  # issue 21 point 7
    # Issue 21 point 13: PRN medicines the session's standing orders allow, and those given.
    data["prn_lines"] = prn.standing_order_lines_for_session(session)
    data["prn_given"] = prn.prn_given(session)
    data["prn_form"].limit_to(data["prn_lines"])
    if "check-in" not in bound:
        # PRE-5, issue 21 point 3: check-in starts from the escort the patient confirmed for
        # this visit, else the chart's usual escort (accepted from the intake); the nurse
        # confirms or changes it.
        source = session if (session.escort_name or session.escort_phone) else session.patient
        data["check_in_form"] = forms.CheckInForm(
            initial={"escort_name": source.escort_name, "escort_phone": source.escort_phone}
        )
    return data


@login_required
def session_detail(request: HttpRequest, session_id: int) -> HttpResponse:
    session = selectors.session_get_for_user(user=request.user, session_id=session_id)
    audit_record(actor=request.user, action=AuditAction.VIEW, patient=session.patient, obj=session)
    return render(request, "infusions/session.html", _page(request, session, {}))


@login_required
def discharge_sheet(request: HttpRequest, session_id: int) -> HttpResponse:
    """DIS-5 / PRE-6: the printed discharge instructions."""
    session = selectors.session_get_for_user(user=request.user, session_id=session_id)
    audit_record(
        actor=request.user,
        action=AuditAction.EXPORT,
        patient=session.patient,
        obj=session,
        detail={"document": "discharge sheet"},
    )
    return render(request, "infusions/discharge_sheet.html", {"session": session})


Handler = Callable[[HttpRequest, InfusionSession, dict[str, Any]], Any]


def _alert(session: InfusionSession, alert_id: int) -> Any:
    alert = session.alerts.filter(pk=alert_id).first()
    if alert is None:
        raise Http404
    return alert


def _effect(session: InfusionSession, effect_id: int) -> Any:
    effect = session.side_effects.filter(pk=effect_id).first()
    if effect is None:
        raise Http404
    return effect


def _symptom(session: InfusionSession, symptom_id: int) -> Any:
    symptom = session.symptoms.filter(pk=symptom_id).first()
    if symptom is None:
        raise Http404
    return symptom


def _verbal_order(session: InfusionSession, order_id: int) -> Any:
    order = session.verbal_orders.filter(pk=order_id).first()
    if order is None:
        raise Http404
    return order


def _require_note(session: InfusionSession) -> SessionNote:
    note = _note(session)
    if note is None:
        raise ValidationError({"__all__": ["Generate the note first."]})
    return note


def _check_in(request: HttpRequest, session: InfusionSession, data: dict[str, Any]) -> Any:
    """Issue 21 point 9: an open SCALE-4 alert must be seen (the box ticked) before check-in;
    the acknowledgement is audited in the check-in's transaction."""
    gate = safety_alert_gate(request=request, patient=session.patient, step="check-in")
    with transaction.atomic():
        safety_alert_require_seen(actor=request.user, gate=gate)
        return services.session_check_in(actor=request.user, session=session, **data)


ACTIONS: dict[str, tuple[type[django_forms.Form], Handler]] = {
    "check-in": (
        forms.CheckInForm,
        lambda r, s, d: _check_in(r, s, d),
    ),
    "pre-checks": (
        forms.PreCheckForm,
        lambda r, s, d: services.session_precheck_record(actor=r.user, session=s, **d),
    ),
    "vitals": (
        forms.VitalsForm,
        # Issue 21 point 12: the form's "Time taken" (empty: now).
        lambda r, s, d: services.vital_record(actor=r.user, session=s, **d),
    ),
    "override": (
        forms.OverrideForm,
        lambda r, s, d: services.session_bp_override(actor=r.user, session=s, **d),
    ),
    "pump": (
        forms.PumpForm,
        lambda r, s, d: services.pump_event_record(actor=r.user, session=s, **d),
    ),
    "verbal-order": (
        forms.VerbalOrderForm,
        lambda r, s, d: services.verbal_order_record(actor=r.user, session=s, **d),
    ),
    "verbal-order-cosign": (
        forms.CosignForm,
        lambda r, s, d: services.verbal_order_cosign(
            actor=r.user,
            order=_verbal_order(s, d["verbal_order_id"]),
            password=d["password"],
            totp=d["totp"],
        ),
    ),
    "acknowledge": (
        forms.AcknowledgeForm,
        lambda r, s, d: services.alert_acknowledge(
            actor=r.user, alert=_alert(s, d["alert_id"]), note=d["note"]
        ),
    ),
    "side-effect": (
        forms.SideEffectForm,
        lambda r, s, d: services.side_effect_record(actor=r.user, session=s, **d),
    ),
    "symptom": (
        forms.SymptomForm,
        lambda r, s, d: services.symptom_record(actor=r.user, session=s, **d),
    ),
    "symptom-resolve": (
        forms.SymptomResolveForm,
        lambda r, s, d: services.symptom_resolve(
            actor=r.user, symptom=_symptom(s, d["symptom_id"])
        ),
    ),
    "resolve": (
        forms.ResolveForm,
        lambda r, s, d: services.side_effect_resolve(
            actor=r.user, effect=_effect(s, d["effect_id"])
        ),
    ),
    "score": (
        forms.ScoreForm,
        lambda r, s, d: services.discharge_score_record(
            actor=r.user,
            session=s,
            aldrete={n: d[f"aldrete_{n}"] for n in rules.ALDRETE_ITEMS},
            padss={n: d[f"padss_{n}"] for n in rules.PADSS_ITEMS},
            voiding_not_required=d["voiding_not_required"],
        ),
    ),
    "discharge": (
        forms.DischargeForm,
        lambda r, s, d: services.session_discharge(actor=r.user, session=s, **d),
    ),
    "cancel": (
        forms.CancelForm,
        lambda r, s, d: services.session_cancel(actor=r.user, session=s, **d),
    ),
    "prn": (
        prn_forms.PrnForm,
        lambda r, s, d: prn_views.prn_administer_from_form(r, s, d),
    ),
    "note-generate": (
        forms.EmptyForm,
        lambda r, s, d: services.note_generate(actor=r.user, session=s),
    ),
    "note-sign": (
        forms.EmptyForm,
        lambda r, s, d: services.note_sign(actor=r.user, note=_require_note(s)),
    ),
    "note-amend": (
        forms.AmendForm,
        lambda r, s, d: services.note_amend(actor=r.user, note=_require_note(s), **d),
    ),
}

ACTIONS.update(cs_views.CS_ACTIONS)  # issue 21 point 6: draw, administration, waste, exception


@login_required
@require_POST
def session_action(request: HttpRequest, session_id: int, action: str) -> HttpResponse:
    session = selectors.session_get_for_user(user=request.user, session_id=session_id)
    if action not in ACTIONS:
        raise Http404
    form_class, handler = ACTIONS[action]
    form = form_class(request.POST)
    # Times typed on the page are the location's local time (issue 21 point 12).
    with timezone.override(session.location.tzinfo):
        valid = form.is_valid()
    if valid:
        try:
            handler(request, session, form.cleaned_data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            return redirect("infusions:session", session_id=session.pk)
    session.refresh_from_db()
    return render(
        request, "infusions/session.html", _page(request, session, {action: form}), status=422
    )


@login_required
def facility_check(request: HttpRequest, location_code: str) -> HttpResponse:
    """PRE-7: today's facility checklist of the location (nurses and prescribers)."""
    from . import facility
    from .facility_forms import FacilityCheckForm

    _require_run(request)
    location = location_get_for_user(
        user=request.user, location=location_code, perm=Perm.SESSION_RUN, default_first=True
    )
    prescribers, clinicians = facility.clinicians_on_site(location)
    form = FacilityCheckForm(request.POST or None, prescribers=prescribers, clinicians=clinicians)
    if request.method == "POST" and form.is_valid():
        by_pk = {u.pk: u for u in clinicians}
        try:
            facility.facility_check_record(
                actor=request.user,
                location=location,
                airway_prescriber=by_pk[form.cleaned_data["airway_prescriber"]],
                acls_clinician=by_pk[form.cleaned_data["acls_clinician"]],
                airway_equipment_checked=form.cleaned_data["airway_equipment_checked"],
                resuscitation_drugs_checked=form.cleaned_data["resuscitation_drugs_checked"],
                note=form.cleaned_data["note"],
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, "Facility check recorded (PRE-7).")
            return redirect("infusions:board", location_code=location.code)
    return render(
        request,
        "infusions/facility_check.html",
        {
            "location": location,
            "form": form,
            "today": facility.facility_check_today(location=location),
            "day": facility.local_today(location),
        },
    )
