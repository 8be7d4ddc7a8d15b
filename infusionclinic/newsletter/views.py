"""Public newsletter pages (sign-up, confirm, unsubscribe) and the admin's campaign pages."""

import csv
from collections.abc import Iterator

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from infusionclinic.accounts.roles import Perm
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.access import require_perm
from infusionclinic.common.markdown import markdown_to_safe_html
from infusionclinic.common.spreadsheet import csv_safe as _csv_safe
from infusionclinic.patients.forms import apply_service_errors
from infusionclinic.website.views import form_rate_limited, public_context

from .forms import CampaignForm, SubscribeForm
from .models import Campaign, CampaignStatus, DeliveryStatus, Subscriber
from .services import (
    campaign_create,
    campaign_recipients,
    campaign_send_test,
    campaign_start,
    campaign_update,
    campaigns_resume,
    subscriber_confirm,
    subscriber_for_confirm_token,
    subscriber_subscribe,
    subscriber_unsubscribe,
)
from .tokens import TokenExpired, TokenInvalid, unsubscribe_token_read

# The public newsletter pages borrow the home page's meta text; they are marked noindex.
PUBLIC_SLUG = "home"


def _public(
    request: HttpRequest, template: str, status: int = 200, **extra: object
) -> HttpResponse:
    context = public_context(request, PUBLIC_SLUG, **extra)
    return render(request, f"newsletter/{template}", context, status=status)


def _confirm_hours() -> int:
    return settings.NEWSLETTER_CONFIRM_MAX_AGE_HOURS


@require_http_methods(["GET", "POST"])
def subscribe(request: HttpRequest) -> HttpResponse:
    """The footer form posts here. Every accepted post gets the same answer, whether the address
    is new, waiting, already confirmed or unsubscribed before."""
    if request.method == "GET":
        return _public(request, "subscribe.html", form=SubscribeForm())
    form = SubscribeForm(request.POST)
    if form_rate_limited(request, "newsletter"):
        return _public(request, "subscribe.html", status=429, form=form, rate_limited=True)
    if form.is_spam():
        return _public(request, "subscribe_done.html", confirm_hours=_confirm_hours())
    if form.is_valid():
        try:
            subscriber_subscribe(
                email=form.cleaned_data["email"],
                name=form.cleaned_data["name"],
                interests=form.cleaned_data["interests"],
            )
        except ValidationError as error:
            apply_service_errors(form, error)
        else:
            return _public(request, "subscribe_done.html", confirm_hours=_confirm_hours())
    return _public(request, "subscribe.html", status=400, form=form)


@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button; POST confirms. Mail scanners that open every link in a message must not
    be able to confirm a subscription on the reader's behalf."""
    try:
        if request.method == "POST":
            subscriber_confirm(token=token)
            return _public(request, "confirmed.html")
        subscriber = subscriber_for_confirm_token(token=token)
    except TokenExpired:
        return _public(request, "link_problem.html", status=400, expired=True)
    except TokenInvalid:
        return _public(request, "link_problem.html", status=400, expired=False)
    return _public(request, "confirm.html", subscriber=subscriber, token=token)


@csrf_exempt  # RFC 8058: the mail program POSTs without a page, a cookie or a CSRF token
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """The List-Unsubscribe URL. POST (the one-click button in a mail program, or the button on
    this page) unsubscribes at once; GET only shows the button, so a link scanner cannot."""
    try:
        if request.method == "POST":
            changed = subscriber_unsubscribe(token=token)
            return _public(request, "unsubscribed.html", already=not changed)
        unsubscribe_token_read(token)
    except TokenInvalid:
        return _public(request, "link_problem.html", status=400, expired=False)
    return _public(request, "unsubscribe.html", token=token)


# --- Admin pages -------------------------------------------------------------------------------


def _require_manage(request: HttpRequest) -> None:
    require_perm(request, Perm.NEWSLETTER_MANAGE)


@login_required
def campaign_list(request: HttpRequest) -> HttpResponse:
    _require_manage(request)
    counts = dict(
        Subscriber.objects.values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    return render(
        request,
        "newsletter/campaign_list.html",
        {"campaigns": Campaign.objects.select_related("created_by"), "counts": counts},
    )


@login_required
def campaign_new(request: HttpRequest) -> HttpResponse:
    _require_manage(request)
    form = CampaignForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            campaign = campaign_create(actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            apply_service_errors(form, error)
        else:
            return redirect("newsletter:campaign_detail", campaign_id=campaign.pk)
    return render(request, "newsletter/campaign_form.html", {"form": form, "campaign": None})


@login_required
def campaign_edit(request: HttpRequest, campaign_id: int) -> HttpResponse:
    _require_manage(request)
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    form = CampaignForm(request.POST or None, instance=Campaign(pk=campaign.pk))
    if request.method != "POST":
        form = CampaignForm(instance=campaign)
    elif form.is_valid():
        try:
            campaign_update(actor=request.user, campaign=campaign, **form.cleaned_data)
        except ValidationError as error:
            apply_service_errors(form, error)
        else:
            return redirect("newsletter:campaign_detail", campaign_id=campaign.pk)
    return render(request, "newsletter/campaign_form.html", {"form": form, "campaign": campaign})


@login_required
def campaign_detail(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """Preview, delivery status per recipient, and the send buttons."""
    _require_manage(request)
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    counts = dict(
        campaign.deliveries.values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    return render(
        request,
        "newsletter/campaign_detail.html",
        {
            "campaign": campaign,
            "preview_html": markdown_to_safe_html(campaign.body_markdown),
            "recipient_count": len(campaign_recipients(campaign))
            if campaign.status == CampaignStatus.DRAFT
            else None,
            "counts": [(label, counts.get(value, 0)) for value, label in DeliveryStatus.choices],
            "deliveries": campaign.deliveries.order_by("status", "email")[:1000],
        },
    )


@login_required
@require_POST
def campaign_test(request: HttpRequest, campaign_id: int) -> HttpResponse:
    _require_manage(request)
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    campaign_send_test(actor=request.user, campaign=campaign)
    messages.success(request, f"A test copy is on its way to {request.user.email}.")
    return redirect("newsletter:campaign_detail", campaign_id=campaign.pk)


@login_required
@require_POST
def campaign_send(request: HttpRequest, campaign_id: int) -> HttpResponse:
    _require_manage(request)
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    try:
        count = campaign_start(actor=request.user, campaign=campaign)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"Sending to {count} confirmed subscribers in the background.")
    return redirect("newsletter:campaign_detail", campaign_id=campaign.pk)


@login_required
@require_POST
def campaign_resume(request: HttpRequest, campaign_id: int) -> HttpResponse:
    _require_manage(request)
    campaigns_resume()
    messages.success(request, "Sending resumed for the recipients still waiting.")
    return redirect("newsletter:campaign_detail", campaign_id=campaign_id)


class _Echo:
    def write(self, value: str) -> str:
        return value


@login_required
def subscribers_csv(request: HttpRequest) -> HttpResponse:
    _require_manage(request)
    audit_record(actor=request.user, action=AuditAction.EXPORT, detail={"report": "subscribers"})
    writer = csv.writer(_Echo())
    columns = ["email", "name", "interests", "status", "signed_up", "confirmed", "unsubscribed"]

    def rows() -> Iterator[str]:
        yield writer.writerow(columns)
        for s in Subscriber.objects.order_by("email").iterator(chunk_size=2000):
            yield writer.writerow(
                [
                    _csv_safe(s.email),
                    _csv_safe(s.name),
                    " ".join(s.interests or []),
                    s.status,
                    s.created_at.isoformat(),
                    s.confirmed_at.isoformat() if s.confirmed_at else "",
                    s.unsubscribed_at.isoformat() if s.unsubscribed_at else "",
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="newsletter-subscribers.csv"'
    return response
