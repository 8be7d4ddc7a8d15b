"""The clinic analytics page and its CSV export: clinic admins only (403 for every other role, as
the audit report). Each view and export is audited (no patient: the figures are aggregates)."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from infusionclinic.accounts.roles import Perm
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.access import require_perm
from infusionclinic.common.spreadsheet import csv_safe

from .chart import bar_chart_svg
from .forms import AnalyticsFilterForm, default_range
from .selectors import ClinicFigures, analytics_locations, clinic_figures

CSV_COLUMNS = ["metric", "group", "value", "numerator", "denominator", "unit"]


def _form(request: HttpRequest) -> AnalyticsFilterForm:
    locations = list(request.user.locations.order_by("name", "pk"))
    data = request.GET.copy()
    if not data.get("date_from") and not data.get("date_to"):
        tz = locations[0].tzinfo if locations else timezone.get_current_timezone()
        start, end = default_range(timezone.now().astimezone(tz).date())
        data.setdefault("date_from", start.isoformat())
        data.setdefault("date_to", end.isoformat())
    return AnalyticsFilterForm(data, locations=locations)


def _figures(request: HttpRequest, form: AnalyticsFilterForm) -> ClinicFigures:
    d = form.cleaned_data
    locations = analytics_locations(user=request.user, location_id=d["location"])
    return clinic_figures(locations=locations, date_from=d["date_from"], date_to=d["date_to"])


def _detail(figures: ClinicFigures) -> dict[str, Any]:
    return {
        "report": "analytics",
        "date_from": figures.date_from.isoformat(),
        "date_to": figures.date_to.isoformat(),
        "locations": [loc.code for loc in figures.locations],
    }


@login_required
def analytics_dashboard(request: HttpRequest) -> HttpResponse:
    require_perm(request, Perm.ANALYTICS_VIEW)
    form = _form(request)
    if not form.is_valid():
        return render(request, "analytics/dashboard.html", {"form": form}, status=400)
    figures = _figures(request, form)
    audit_record(actor=request.user, action=AuditAction.VIEW, detail=_detail(figures))
    charts = [
        bar_chart_svg(
            title="Infusions per week",
            bars=[(f"{week:%m-%d}", count) for week, count in figures.infusions_per_week],
        ),
        bar_chart_svg(
            title="Response rate by indication (%)",
            bars=[(o.label.split(" (")[0], o.response.percent) for o in figures.outcomes],
            unit="%",
            max_value=100,
        ),
        bar_chart_svg(
            title="Rates (%)",
            bars=[
                ("Chairs booked", figures.chair_booked.percent),
                ("Chairs used", figures.chair_used.percent),
                ("Adverse events", figures.adverse_events.percent),
                ("No-shows", figures.no_show.percent),
            ],
            unit="%",
            max_value=100,
        ),
    ]
    return render(
        request,
        "analytics/dashboard.html",
        {"form": form, "figures": figures, "charts": charts, "query": request.GET.urlencode()},
    )


def _rate_row(metric: str, group: str, rate: Any, unit: str = "%") -> list[object]:
    value = rate.percent
    return [metric, group, "" if value is None else value, rate.numerator, rate.denominator, unit]


def figures_csv_rows(figures: ClinicFigures) -> list[list[object]]:
    rows: list[list[object]] = [
        ["date_from", "", figures.date_from.isoformat(), "", "", "date"],
        ["date_to", "", figures.date_to.isoformat(), "", "", "date"],
        *(["location", loc.code, loc.name, "", "", ""] for loc in figures.locations),
        ["infusions", "total", figures.infusions, "", "", "count"],
        *(
            ["infusions_per_week", week.isoformat(), count, "", "", "count"]
            for week, count in figures.infusions_per_week
        ),
        ["open_chair_minutes", "", figures.open_chair_minutes, "", "", "min"],
        ["booked_chair_minutes", "", figures.booked_chair_minutes, "", "", "min"],
        ["used_chair_minutes", "", figures.used_chair_minutes, "", "", "min"],
        _rate_row("chair_utilization_booked", "", figures.chair_booked, "% (chair-seconds)"),
        _rate_row("chair_utilization_used", "", figures.chair_used, "% (chair-seconds)"),
    ]
    for outcome in figures.outcomes:
        rows.append(["courses", outcome.indication, outcome.courses, "", "", "count"])
        rows.append(_rate_row("response_rate", outcome.indication, outcome.response))
        rows.append(_rate_row("remission_rate", outcome.indication, outcome.remission))
        rows.append(["not_evaluable", outcome.indication, outcome.not_evaluable, "", "", "count"])
    rows += [
        _rate_row("adverse_event_rate", "", figures.adverse_events),
        ["infusions_with_side_effect", "", figures.side_effect_infusions, "", "", "count"],
        ["infusions_with_vital_alert", "", figures.alert_infusions, "", "", "count"],
        _rate_row("no_show_rate", "", figures.no_show),
        ["revenue_payments", "", figures.revenue.payments, "", "", "USD"],
        ["revenue_refunds", "", figures.revenue.refunds, "", "", "USD"],
        ["revenue_net", "", figures.revenue.net, "", "", "USD"],
    ]
    return rows


@login_required
def analytics_export_csv(request: HttpRequest) -> HttpResponse:
    require_perm(request, Perm.ANALYTICS_VIEW)
    form = _form(request)
    if not form.is_valid():
        return HttpResponse(
            "Invalid filter: " + form.errors.as_text(), status=400, content_type="text/plain"
        )
    figures = _figures(request, form)
    audit_record(actor=request.user, action=AuditAction.EXPORT, detail=_detail(figures))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in figures_csv_rows(figures):
        # Text cells (names typed by people) are made formula-safe; numbers stay numbers.
        writer.writerow([csv_safe(cell) if isinstance(cell, str) else cell for cell in row])
    response = HttpResponse(out.getvalue(), content_type="text/csv")
    name = f"clinic-analytics-{figures.date_from}-{figures.date_to}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
