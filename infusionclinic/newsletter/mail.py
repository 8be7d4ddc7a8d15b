"""The mails the newsletter sends: the double opt-in confirmation, and campaign messages with a
plain-text and an HTML part, a one-click unsubscribe link and the RFC 8058 headers."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend
from django.template.loader import render_to_string
from django.urls import reverse

from infusionclinic.common.markdown import markdown_to_safe_html

from .models import Campaign
from .tokens import confirm_token_make, unsubscribe_token_make


def absolute_url(path: str) -> str:
    return settings.SITE_URL + path


def confirm_url(*, subscriber_id: int, nonce: str) -> str:
    token = confirm_token_make(subscriber_id=subscriber_id, nonce=nonce)
    return absolute_url(reverse("newsletter:confirm", kwargs={"token": token}))


def unsubscribe_url(*, subscriber_id: int) -> str:
    token = unsubscribe_token_make(subscriber_id=subscriber_id)
    return absolute_url(reverse("newsletter:unsubscribe", kwargs={"token": token}))


def confirmation_mail_parts(*, name: str, url: str) -> tuple[str, str, str]:
    context = {
        "name": name,
        "url": url,
        "clinic_name": settings.CLINIC_NAME,
        "max_age_hours": settings.NEWSLETTER_CONFIRM_MAX_AGE_HOURS,
    }
    subject = f"Please confirm your subscription to {settings.CLINIC_NAME} news"
    return (
        subject,
        render_to_string("newsletter/mail/confirm.txt", context),
        render_to_string("newsletter/mail/confirm.html", context),
    )


def campaign_message(
    *,
    campaign: Campaign,
    to: str,
    unsubscribe: str | None,
    connection: BaseEmailBackend | None = None,
    subject_prefix: str = "",
) -> EmailMultiAlternatives:
    """One campaign mail. `unsubscribe` is the recipient's own one-click URL (None for a test
    sent to the editor, who is not a subscriber)."""
    context = {
        "campaign": campaign,
        "body_html": markdown_to_safe_html(campaign.body_markdown),
        "unsubscribe_url": unsubscribe,
        "clinic_name": settings.CLINIC_NAME,
        "site_url": settings.SITE_URL,
    }
    headers = {}
    if unsubscribe:
        # RFC 2369 and RFC 8058: mail programs show an "Unsubscribe" button that POSTs
        # "List-Unsubscribe=One-Click" to this URL, with no further page or log-in.
        headers["List-Unsubscribe"] = f"<{unsubscribe}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message = EmailMultiAlternatives(
        subject=subject_prefix + campaign.subject,
        body=render_to_string("newsletter/mail/campaign.txt", context),
        to=[to],
        headers=headers,
        connection=connection,
    )
    message.attach_alternative(
        render_to_string("newsletter/mail/campaign.html", context), "text/html"
    )
    return message
