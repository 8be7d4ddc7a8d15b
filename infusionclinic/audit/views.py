import csv
import json
from collections.abc import Iterator

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render

from infusionclinic.accounts.roles import Perm
from infusionclinic.common.access import require_perm
from infusionclinic.common.spreadsheet import csv_safe as _csv_safe

from .forms import AuditFilterForm
from .models import AuditAction, AuditEvent
from .selectors import AuditFilter, audit_events_for_user
from .services import audit_record, audit_seal_pending

SORT_COLUMNS = [
    ("seq", "#"),
    ("when", "When (UTC)"),
    ("user", "Who"),
    ("role", "Role"),
    ("action", "Action"),
    ("patient", "Patient"),
    ("object", "Object"),
    ("object_id", "Object id"),
    ("address", "From"),
    ("channel", "Channel"),
]

CSV_COLUMNS = [
    "seq",
    "occurred_at_utc",
    "actor_email",
    "actor_role",
    "action",
    "patient_mrn",
    "object_type",
    "object_id",
    "client_address",
    "channel",
    "detail",
    "hash",
]


def _filters(request: HttpRequest) -> tuple[AuditFilterForm, AuditFilter]:
    form = AuditFilterForm(request.GET or None)
    if form.is_bound and form.is_valid():
        d = form.cleaned_data
        return form, AuditFilter(
            user_email=d["user"] or "",
            patient_mrn=d["patient"] or "",
            action=d["action"] or "",
            date_from=d["date_from"],
            date_to=d["date_to"],
            sort=d["sort"] or "-seq",
        )
    return form, AuditFilter()


@login_required
def audit_report(request: HttpRequest) -> HttpResponse:
    require_perm(request, Perm.AUDIT_REPORT)
    form, filters = _filters(request)
    if form.is_bound and not form.is_valid():
        events = AuditEvent.objects.none()
    else:
        audit_seal_pending()  # the report lists the chain: seal what just committed first
        events = audit_events_for_user(user=request.user, filters=filters)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    unsorted = query.copy()
    unsorted.pop("sort", None)
    columns = [
        (key, label, "" if filters.sort == f"-{key}" else "-") for key, label in SORT_COLUMNS
    ]
    return render(
        request,
        "audit/report.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "unsorted_query": unsorted.urlencode(),
            "columns": columns,
            "sort": filters.sort,
        },
        status=400 if form.is_bound and not form.is_valid() else 200,
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


@login_required
def audit_export_csv(request: HttpRequest) -> HttpResponse:
    require_perm(request, Perm.AUDIT_REPORT)
    form, filters = _filters(request)
    if form.is_bound and not form.is_valid():
        return HttpResponse(
            "Invalid filter: " + form.errors.as_text(), status=400, content_type="text/plain"
        )
    audit_seal_pending()
    events = audit_events_for_user(user=request.user, filters=filters)
    audit_record(
        actor=request.user,
        action=AuditAction.EXPORT,
        detail={
            "report": "audit",
            "filters": {k: str(v) for k, v in vars(filters).items() if v and k != "sort"},
        },
    )
    writer = csv.writer(_Echo())

    def rows() -> Iterator[str]:
        yield writer.writerow(CSV_COLUMNS)
        for e in events.iterator(chunk_size=2000):
            text_cells = (
                e.actor_email,
                e.actor_role,
                e.action,
                e.patient.mrn if e.patient else "",
                e.object_type,
                e.object_id,
                e.client_address,
                e.channel,
                json.dumps(e.detail, sort_keys=True),
            )
            yield writer.writerow(
                [e.seq, e.occurred_at.isoformat(), *map(_csv_safe, text_cells), e.hash]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="audit-log.csv"'
    return response
