"""The session page's controlled-substance section (issue 21 point 6): the actions it posts
(each parses its form and calls one service) and what it shows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms as django_forms
from django.http import HttpRequest

from infusionclinic.accounts.roles import Perm, Role
from infusionclinic.controlled import services as cs_services
from infusionclinic.controlled.compliance import registration_status

from . import controlled_link, cs_forms, services
from .dose import SessionDoseCheck, session_draw_get
from .models import InfusionSession, SessionState

S = SessionState
DRAW_STATES = (S.CHECKED_IN, S.PRE_CHECKS, S.INFUSING, S.PAUSED)  # an open encounter (CS-42)

Handler = Callable[[HttpRequest, InfusionSession, dict[str, Any]], Any]


def _draw(request: HttpRequest, session: InfusionSession, draw_id: int) -> Any:
    return session_draw_get(session=session, draw_id=draw_id, user=request.user)


CS_ACTIONS: dict[str, tuple[type[django_forms.Form], Handler]] = {
    "cs-draw": (
        cs_forms.CsDrawForm,
        lambda r, s, d: controlled_link.session_draw(
            actor=r.user, session=s, lot_id=d["lot"], qty_ml=d["qty_ml"]
        ),
    ),
    "cs-administer": (
        cs_forms.CsAdministerForm,
        lambda r, s, d: cs_services.administration_record(
            actor=r.user, draw=_draw(r, s, d["draw_id"]), qty_ml=d["qty_ml"], reason=d["reason"]
        ),
    ),
    "cs-waste": (
        cs_forms.CsWasteForm,
        lambda r, s, d: cs_services.waste_record(
            actor=r.user,
            draw=_draw(r, s, d["draw_id"]),
            qty_ml=d["qty_ml"],
            reason=d["reason"],
            witness_email=d["witness_email"],
            witness_secret=d["witness_secret"],
        ),
    ),
    "cs-exception": (
        cs_forms.CsExceptionForm,
        lambda r, s, d: services.session_cs_exception_record(
            actor=r.user, session=s, reason=d["reason"]
        ),
    ),
}


def cs_context(
    request: HttpRequest, session: InfusionSession, check: SessionDoseCheck, bound: dict[str, Any]
) -> dict[str, Any]:
    """What the section shows: the start's requirements, the draw form with the location's lots,
    per open dose the administration (defaulting to the pump's dose given) and the witnessed
    waste of the rest, and the differences left with the exceptions recorded."""
    can_record = request.user.has_role_perm(Perm.CS_RECORD)
    lots = controlled_link.draw_lots(session) if session.state in DRAW_STATES else []
    draw_form = bound.get("cs-draw") or cs_forms.CsDrawForm(
        initial={"qty_ml": lots[0].order_ml} if len(lots) == 1 else None
    )
    draw_form.set_lots(lots)
    doses = []
    if check.infusion_over:
        for line in check.lines:
            if line.open_ml <= 0:
                continue
            suggestion = check.suggestion(line)
            # First the administration (the pump's dose still to record), then the waste of the
            # rest (CS-32, then CS-33).
            doses.append(
                {
                    "line": line,
                    "suggestion": suggestion,
                    "administration_due": suggestion.qty_ml > 0,
                }
            )
    left = controlled_link.open_problems(session) if check.problems else []
    return {
        "cs_can_record": can_record,
        "cs_registration": registration_status(location=session.location),
        "cs_start_problems": (
            controlled_link.start_problems(session)
            if session.state in (S.CHECKED_IN, S.PRE_CHECKS)
            else []
        ),
        "cs_show_draw": can_record and session.state in DRAW_STATES,
        "cs_lots": lots,
        "cs_draw_form": draw_form,
        "cs_doses": doses,
        "cs_open_problems": left,
        "cs_exceptions": list(session.cs_exceptions.select_related("recorded_by")),
        "cs_can_except": (
            request.user.role == Role.PRESCRIBER
            and bool(left)
            and session.state in controlled_link.EXCEPTION_STATES
        ),
    }


def billing_context(request: HttpRequest, session: InfusionSession) -> Any:
    """Issue 21 point 7: once discharged, the completed appointment's invoice or "Create
    invoice" (billing's selector), for whoever may bill."""
    if session.state != S.DISCHARGED or session.appointment_id is None:
        return None
    from infusionclinic.billing.selectors import appointment_billing

    return appointment_billing(user=request.user, appointment=session.appointment)
