"""Pages for the controlled-substance records on their own (CS-6, CS-47: `records.py`) and
witnessed breakage (CS-20: `breakage.py`), internal transfers of sealed vials (CS-34, CS-35:
`transfers.py`)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.utils import timezone

from infusionclinic.accounts.roles import Perm

from . import breakage, records, transfers
from .forms import BreakageForm, RecordsRangeForm, StorageTransferForm
from .views import _csv, _location, _lot_action


@login_required
def records_export(request: HttpRequest, location_code: str, report: str) -> HttpResponse:
    """CS-47: `?date_from=YYYY-MM-DD&date_to=YYYY-MM-DD` (default: the last 365 days)."""
    location = _location(request, location_code, Perm.CS_EXPORT)
    if report not in records.HEADERS:
        return HttpResponseBadRequest(
            "Unknown report; choose one of: " + ", ".join(records.HEADERS) + "."
        )
    today = timezone.localdate(timezone=location.tzinfo)
    form = RecordsRangeForm(
        {
            "date_from": request.GET.get("date_from") or (today - timedelta(days=365)).isoformat(),
            "date_to": request.GET.get("date_to") or today.isoformat(),
        }
    )
    if not form.is_valid():
        return HttpResponseBadRequest("Give date_from and date_to as YYYY-MM-DD.")
    d = form.cleaned_data
    if d["date_from"] > d["date_to"]:
        return HttpResponseBadRequest("date_from is after date_to.")
    body = records.records_csv(
        actor=request.user,
        location=location,
        report=report,
        date_from=d["date_from"],
        date_to=d["date_to"],
    )
    name = f"cs-{report.replace('_', '-')}-{location.code}-{d['date_from']}-{d['date_to']}.csv"
    return _csv(body, name)


@login_required
def breakage_new(request: HttpRequest, location_code: str) -> HttpResponse:
    """CS-20: breakage the registrant can account for is documented here, not reported as a
    loss."""
    intro = (
        "CS-20: a witnessed breakage or spill you can account for is not a theft or loss (no DEA "
        "notice). What can be recovered is destroyed on Form 41 or returned to a reverse "
        "distributor; what cannot is documented here. A loss nobody saw is a theft/loss report."
    )
    return _lot_action(
        request,
        location_code,
        form_class=BreakageForm,
        service=breakage.breakage_record,
        done="Breakage recorded (witnessed; not a loss, CS-20).",
        page=("Record a breakage", "Record breakage", intro),
        fields=("qty_ml", "circumstances", "recoverable", "witness_email", "witness_secret"),
    )


@login_required
def transfer_new(request: HttpRequest, location_code: str) -> HttpResponse:
    """CS-35: sealed vials cabinet → room cart (or, CS-34, unopened vials back), received and
    signed by a second licensed user on the same screen."""
    intro = (
        "CS-35: whole sealed vials only. CS-34: only unopened vials go back to the cabinet; "
        "what is left of a drawn dose is wasted with a witness."
    )
    return _lot_action(
        request,
        location_code,
        form_class=StorageTransferForm,
        service=transfers.storage_transfer_record,
        done="Transfer recorded (no change to the registrant's stock, CS-35).",
        page=("Move vials", "Record transfer", intro),
        fields=(
            "containers",
            "place",
            "is_return",
            "sealed_confirmed",
            "receiver_email",
            "receiver_secret",
        ),
    )
