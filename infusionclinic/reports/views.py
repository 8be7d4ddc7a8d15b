from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from infusionclinic.accounts.roles import Perm
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.access import require_perm
from infusionclinic.common.context import current_client
from infusionclinic.patients.selectors import patient_get_for_user

from . import services
from .models import ReportShare
from .pdf import progress_report_pdf
from .selectors import progress_report, share_open, sharing_consented


@login_required
def report_view(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    require_perm(request, Perm.REPORT_VIEW)
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient=patient,
        obj=patient,
        detail={"report": "progress"},
    )
    return render(
        request,
        "reports/progress.html",
        {
            "report": progress_report(patient=patient),
            "can_share": request.user.has_role_perm(Perm.REPORT_SHARE),
            "consented": sharing_consented(patient=patient),
            "shares": ReportShare.objects.filter(patient=patient)[:20],
            "public": False,
        },
    )


def _pdf_response(report_patient, report) -> HttpResponse:  # type: ignore[no-untyped-def]
    body = progress_report_pdf(report, clinic_name=settings.CLINIC_NAME)
    response = HttpResponse(body, content_type="application/pdf")
    response["Content-Disposition"] = (
        f'attachment; filename="progress-report-{report_patient.mrn}.pdf"'
    )
    return response


@login_required
def report_pdf(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    require_perm(request, Perm.REPORT_VIEW)
    audit_record(
        actor=request.user,
        action=AuditAction.EXPORT,
        patient=patient,
        obj=patient,
        detail={"report": "progress", "format": "pdf"},
    )
    return _pdf_response(patient, progress_report(patient=patient))


@login_required
@require_POST
def report_share(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    require_perm(request, Perm.REPORT_SHARE)
    try:
        share, _ = services.report_share_create(
            actor=request.user,
            patient=patient,
            recipient_email=request.POST.get("recipient_email", ""),
        )
    except ValidationError as exc:
        for messages_ in exc.message_dict.values():
            for message in messages_:
                messages.error(request, message)
    else:
        messages.success(request, f"Link sent to {share.recipient_email}.")
    return redirect("reports:progress", patient_id=patient.pk)


@login_required
@require_POST
def report_share_revoke(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = patient_get_for_user(user=request.user, patient_id=patient_id)
    require_perm(request, Perm.REPORT_SHARE)
    share_id = request.POST.get("share_id", "")
    share = (
        ReportShare.objects.filter(patient=patient, pk=share_id).first()
        if share_id.isdigit()
        else None
    )
    if share is None:
        messages.error(request, "Choose one of this patient's links to revoke.")
    else:
        services.report_share_revoke(actor=request.user, share=share)
        messages.success(request, "Link revoked.")
    return redirect("reports:progress", patient_id=patient.pk)


def _shared(token: str) -> ReportShare:
    share = share_open(raw_token=token)
    if share is None:
        audit_record(
            actor=None,
            action=AuditAction.DENIED,
            detail={"report_link": "invalid, expired or revoked"},
        )
        raise Http404("This link is not valid, has expired or was revoked.")
    return share


@require_GET
def shared_report(request: HttpRequest, token: str) -> HttpResponse:
    """The referring provider's read-only view: no log-in, an expiring link, each open audited."""
    share = _shared(token)
    audit_record(
        actor=None,
        action=AuditAction.VIEW,
        patient=share.patient,
        obj=share,
        detail={
            "report": "progress",
            "via": "link",
            "recipient": share.recipient_email,
            "client": current_client().client_address,
        },
    )
    response = render(
        request,
        "reports/progress.html",
        {"report": progress_report(patient=share.patient), "public": True, "token": token},
    )
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Cache-Control"] = "no-store, private"
    return response


@require_GET
def shared_report_pdf(request: HttpRequest, token: str) -> HttpResponse:
    share = _shared(token)
    audit_record(
        actor=None,
        action=AuditAction.EXPORT,
        patient=share.patient,
        obj=share,
        detail={"report": "progress", "via": "link", "format": "pdf"},
    )
    response = _pdf_response(share.patient, progress_report(patient=share.patient))
    response["Cache-Control"] = "no-store, private"
    return response
