"""Pages of secure messaging (issue 18 section 3): the patient's threads and compose screen, the
staff inbox per location, a thread (read, answer, status, assignee, file to the chart) and the
attachment download. Access is decided by the selectors (404 otherwise); every read and write
is audited by the services."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from infusionclinic.accounts.roles import STAFF_ROLES, Perm, Role
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.patients.forms import apply_service_errors

from . import selectors, services
from .forms import ComposeForm, ReplyForm, StaffReplyForm, ThreadUpdateForm
from .models import Attachment, ThreadFiling


def _files(form: Any) -> list[tuple[Any, str, int | None]]:
    upload = form.cleaned_data.get("file")
    return [(upload, upload.name, upload.size)] if upload else []


def crisis_context(location: Any) -> dict[str, Any]:
    return {"crisis_line": settings.OUTCOMES_CRISIS_LINE, "clinic_location": location}


@login_required
def messages_home(request: HttpRequest) -> HttpResponse:
    """The patient's threads; staff go to their first location's inbox."""
    user = request.user
    if user.role in STAFF_ROLES:
        location = selectors.inbox_locations(user=user).first()
        if location is None:
            raise PermissionDenied
        return redirect("messaging:inbox", location_id=location.pk)
    return my_threads(request)


@login_required
def my_threads(request: HttpRequest) -> HttpResponse:
    if not request.user.has_role_perm(Perm.MESSAGE_OWN):
        raise PermissionDenied
    patient = getattr(request.user, "patient", None)
    if patient is None:
        raise Http404("No chart is linked to this log-in.")
    try:
        offset = max(0, int(request.GET.get("offset", 0)))
    except ValueError:
        offset = 0
    portal = selectors.patient_threads(user=request.user, offset=offset)
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient=patient,
        detail={"page": "my messages", "threads": [t.pk for t in portal.threads]},
    )
    return render(request, "messaging/my_threads.html", {"portal": portal})


@login_required
def compose(request: HttpRequest) -> HttpResponse:
    if not request.user.has_role_perm(Perm.MESSAGE_OWN):
        raise PermissionDenied
    patient = getattr(request.user, "patient", None)
    if patient is None:
        raise Http404("No chart is linked to this log-in.")
    form = ComposeForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                sent = services.thread_create(
                    actor=request.user,
                    category=form.cleaned_data["category"],
                    subject=form.cleaned_data["subject"],
                    body=form.cleaned_data["body"],
                    files=_files(form),
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                flash.success(request, "Message sent to your care team.")
                return redirect("messaging:thread", thread_id=sent.thread.pk)
        status = 400
    return render(
        request,
        "messaging/compose.html",
        {"form": form, **crisis_context(patient.home_location)},
        status=status,
    )


@login_required
def inbox(request: HttpRequest, location_id: int) -> HttpResponse:
    user = request.user
    if user.role not in STAFF_ROLES or not selectors.categories_for(user):
        raise PermissionDenied
    location = selectors.inbox_location_get(user=user, location_id=location_id)
    box = selectors.staff_inbox(
        user=user,
        location=location,
        status=request.GET.get("status", ""),
        category=request.GET.get("category", ""),
    )
    audit_record(
        actor=user,
        action=AuditAction.VIEW,
        detail={
            "page": "message inbox",
            "location": location.code,
            "patient_ids": sorted({row.thread.patient_id for row in box.rows}),
        },
    )
    return render(
        request,
        "messaging/inbox.html",
        {
            "inbox": box,
            "locations": selectors.inbox_locations(user=user),
            "category_choices": [
                c for c in services.ThreadCategory.choices if c[0] in box.categories
            ],
        },
    )


def _thread_page(
    request: HttpRequest, thread: Any, *, form: Any = None, status: int = 200
) -> HttpResponse:
    user = request.user
    is_staff = user.role in STAFF_ROLES
    context: dict[str, Any] = {
        "thread": thread,
        "messages_list": selectors.thread_messages(thread=thread),
        "is_staff": is_staff,
        "form": form or (StaffReplyForm() if is_staff else ReplyForm()),
        "filings": list(ThreadFiling.objects.filter(thread=thread).order_by("-filed_at")),
        **crisis_context(thread.location),
    }
    if is_staff:
        assignees = selectors.assignees_for(thread=thread)
        context["update_form"] = ThreadUpdateForm(
            initial={"status": thread.status, "assignee": thread.assignee_id or -1},
            assignees=assignees,
        )
        context["answer_due_at"] = (
            selectors.staff_inbox_row_due(thread=thread) if thread.awaiting_staff_since else None
        )
    else:
        # A message of the patient's that matched a crisis phrase: the resources stay in view.
        context["show_crisis"] = thread.urgent
        context["closed"] = thread.status == services.ThreadStatus.CLOSED
    services.thread_mark_read(actor=user, thread=thread)
    return render(request, "messaging/thread.html", context, status=status)


@login_required
def thread_view(request: HttpRequest, thread_id: int) -> HttpResponse:
    thread = selectors.thread_get_for_user(user=request.user, thread_id=thread_id)
    if request.method != "POST":
        return _thread_page(request, thread)
    is_staff = request.user.role in STAFF_ROLES
    form_class = StaffReplyForm if is_staff else ReplyForm
    form = form_class(request.POST, request.FILES)
    if form.is_valid():
        try:
            sent = services.message_send(
                actor=request.user,
                thread=thread,
                body=form.cleaned_data["body"],
                files=_files(form),
                status=form.cleaned_data.get("status", "") if is_staff else "",
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            flash.success(request, "Message sent.")
            return redirect("messaging:thread", thread_id=sent.thread.pk)
    thread = selectors.thread_get_for_user(user=request.user, thread_id=thread_id)
    return _thread_page(request, thread, form=form, status=400)


@login_required
@require_POST
def thread_update(request: HttpRequest, thread_id: int) -> HttpResponse:
    thread = selectors.thread_get_for_user(user=request.user, thread_id=thread_id)
    if request.user.role not in STAFF_ROLES:
        raise Http404("Not found.")
    form = ThreadUpdateForm(request.POST, assignees=selectors.assignees_for(thread=thread))
    if form.is_valid():
        try:
            services.thread_update(
                actor=request.user,
                thread=thread,
                status=form.cleaned_data["status"],
                assignee_id=form.cleaned_data["assignee"],
            )
        except ValidationError as exc:
            flash.error(request, " ".join(exc.messages))
        else:
            flash.success(request, "Thread updated.")
    else:
        flash.error(request, "Choose a listed status and a member of the team.")
    return redirect("messaging:thread", thread_id=thread.pk)


@login_required
@require_POST
def thread_file(request: HttpRequest, thread_id: int) -> HttpResponse:
    thread = selectors.thread_get_for_user(user=request.user, thread_id=thread_id)
    if request.user.role not in STAFF_ROLES:
        raise Http404("Not found.")
    services.thread_file_to_chart(actor=request.user, thread=thread)
    flash.success(request, "Filed to the chart.")
    return redirect("messaging:thread", thread_id=thread.pk)


def stored_file_response(stored: Any, *, filename: str, content_type: str) -> FileResponse:
    """A stored file as a download: attachment disposition, the sniffed type, nosniff."""
    response = FileResponse(
        stored.open("rb"), as_attachment=True, filename=filename, content_type=content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "no-store"
    return response


@login_required
def attachment_download(request: HttpRequest, attachment_id: int) -> HttpResponse:
    attachment: Attachment = selectors.attachment_get_for_user(
        user=request.user, attachment_id=attachment_id
    )
    services.attachment_download_record(actor=request.user, attachment=attachment)
    return stored_file_response(
        attachment.file, filename=attachment.original_name, content_type=attachment.content_type
    )


@login_required
def filing_download(request: HttpRequest, filing_id: int) -> HttpResponse:
    filing = selectors.filing_get_for_user(user=request.user, filing_id=filing_id)
    if request.user.role == Role.PATIENT:
        raise Http404("Not found.")
    audit_record(
        actor=request.user,
        action=AuditAction.EXPORT,
        patient=filing.patient,
        obj=filing,
        detail={
            "thread": filing.thread_id,
            "filed_at": timezone.localtime(filing.filed_at).isoformat(),
        },
    )
    return stored_file_response(
        filing.pdf,
        filename=f"messages-thread-{filing.thread_id}.pdf",
        content_type="application/pdf",
    )
