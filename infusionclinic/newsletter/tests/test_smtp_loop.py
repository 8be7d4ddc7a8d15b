"""Issue 3, "Done when": the whole loop against a real SMTP server started in the test process
(aiosmtpd), with mail and campaign batches going through the django-tasks database queue and
`manage.py db_worker`; and a worker killed in the middle of a campaign, then restarted, sends each
remaining recipient exactly once."""

import re
import smtplib
from collections import Counter
from datetime import timedelta
from email.message import Message as EmailMessage
from unittest import mock

import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone

from infusionclinic.newsletter import services
from infusionclinic.newsletter.models import Campaign, Delivery, Subscriber
from infusionclinic.newsletter.services import campaign_start
from infusionclinic.website.tests.seeding import reseed_migration_rows
from tests.factories import make_user

from .factories import campaign as make_campaign
from .factories import subscriber

# transaction=True: the worker closes and reopens database connections, as in production, which
# would end a test-wrapping transaction on PostgreSQL.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _seeded(transactional_db) -> None:
    reseed_migration_rows()


@pytest.fixture
def inbox(smtp_inbox):
    with smtp_inbox.settings():
        yield smtp_inbox


def run_worker() -> None:
    call_command("db_worker", batch=True, no_startup_delay=True, reload=False)


def _text_part(message: EmailMessage) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode()
    raise AssertionError("no text/plain part")


def _content_types(message: EmailMessage) -> set[str]:
    return {part.get_content_type() for part in message.walk()}


def test_sign_up_confirm_campaign_one_click_unsubscribe_and_no_next_campaign(inbox):
    admin = make_user("admin")
    subscriber("other@example.com")  # a reader who stays, to prove the next campaign went out
    visitor = Client(enforce_csrf_checks=False)

    # Sign up through the footer form's endpoint: the confirmation mail arrives.
    response = visitor.post(
        "/newsletter/subscribe/",
        {"email": "reader@example.com", "name": "Robin", "interests": ["depression"]},
    )
    assert response.status_code == 200
    assert inbox.messages == []  # queued, not sent inline
    run_worker()
    (confirmation,) = inbox.to("reader@example.com")
    link = re.search(
        r"http://127\.0\.0\.1:8000(/newsletter/confirm/\S+/)", _text_part(confirmation)
    )
    assert link, _text_part(confirmation)

    # Confirm.
    assert visitor.post(link.group(1)).status_code == 200
    assert Subscriber.objects.get(email="reader@example.com").status == "confirmed"

    # The first campaign arrives with both parts and working RFC 8058 headers.
    campaign_start(actor=admin, campaign=make_campaign(admin, subject="First issue"))
    run_worker()
    (issue,) = [m for m in inbox.to("reader@example.com") if m["Subject"] == "First issue"]
    assert {"text/plain", "text/html"} <= _content_types(issue)
    assert issue["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # A long header is folded onto several lines in transit; the URL itself has no whitespace.
    header = re.sub(r"\s+", "", issue["List-Unsubscribe"])
    url = re.fullmatch(r"<(http://127\.0\.0\.1:8000(/newsletter/unsubscribe/\S+/))>", header)
    assert url, header

    # One click in the mail program: a POST with RFC 8058's body, no cookie, no CSRF token.
    mail_program = Client(enforce_csrf_checks=True)
    response = mail_program.post(
        url.group(2),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert Subscriber.objects.get(email="reader@example.com").status == "unsubscribed"

    # The next campaign does not arrive for the reader; it does for the other subscriber.
    campaign_start(actor=admin, campaign=make_campaign(admin, subject="Second issue"))
    run_worker()
    assert [m["Subject"] for m in inbox.to("reader@example.com")][1:] == ["First issue"]
    assert [m["Subject"] for m in inbox.to("other@example.com")] == ["First issue", "Second issue"]


class WorkerKilled(BaseException):
    """Stands in for the worker process dying (not an Exception: nothing may swallow it)."""


@override_settings(NEWSLETTER_BATCH_SIZE=3)
def test_worker_killed_between_recipients_then_restarted_sends_each_remaining_once(inbox):
    admin = make_user("admin")
    addresses = [f"r{n}@example.com" for n in range(7)]
    for address in addresses:
        subscriber(address)
    campaign = make_campaign(admin)
    campaign_start(actor=admin, campaign=campaign)

    real_claim = services.delivery_claim_next
    claims = Counter()

    def claim_then_die(*, campaign_id: int):
        claims["n"] += 1
        if claims["n"] == 5:  # after one full batch of 3 and one message of the next
            raise WorkerKilled
        return real_claim(campaign_id=campaign_id)

    with mock.patch.object(services, "delivery_claim_next", claim_then_die):
        run_worker()
    assert len(inbox.messages) == 4
    assert Counter(Delivery.objects.values_list("status", flat=True)) == {"sent": 4, "pending": 3}
    assert Campaign.objects.get().status == "sending"

    # Restart: `make demo` / `make worker` run newsletter_resume, then the worker.
    call_command("newsletter_resume")
    run_worker()
    received = Counter(m["To"] for m in inbox.messages)
    assert received == dict.fromkeys(addresses, 1)  # everyone, exactly once
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}
    assert Campaign.objects.get().status == "sent"


@override_settings(NEWSLETTER_BATCH_SIZE=2)
def test_message_in_flight_when_the_worker_died_is_marked_unknown_and_never_resent(inbox):
    admin = make_user("admin")
    for n in range(4):
        subscriber(f"r{n}@example.com")
    campaign = make_campaign(admin)
    with override_settings(
        TASKS={"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    ):
        campaign_start(actor=admin, campaign=campaign)
    # What a worker killed (kill -9) while talking to the mail server leaves behind: r0 sent,
    # r1 claimed an hour ago (it may have been delivered), the rest waiting, no task queued.
    first, in_flight, *_ = Delivery.objects.order_by("pk")
    Delivery.objects.filter(pk=first.pk).update(status="sent", sent_at=timezone.now())
    Delivery.objects.filter(pk=in_flight.pk).update(
        status="sending", claimed_at=timezone.now() - timedelta(hours=1)
    )

    call_command("newsletter_resume")
    run_worker()
    assert sorted(m["To"] for m in inbox.messages) == ["r2@example.com", "r3@example.com"]
    in_flight.refresh_from_db()
    assert in_flight.status == "unknown"
    assert Campaign.objects.get().status == "sent"


def test_recipient_refused_by_the_server_is_marked_failed_and_the_rest_still_go(inbox):
    admin = make_user("admin")
    for address in ("a@example.com", "refused@example.com", "c@example.com"):
        subscriber(address)
    real_send = services.campaign_message

    def refusing(**kwargs):
        message = real_send(**kwargs)
        if kwargs["to"] == "refused@example.com":

            def refuse(*args, **kw):
                raise smtplib.SMTPRecipientsRefused({"refused@example.com": (550, b"no")})

            message.send = refuse
        return message

    with mock.patch.object(services, "campaign_message", refusing):
        campaign_start(actor=admin, campaign=make_campaign(admin))
        run_worker()
    assert sorted(m["To"] for m in inbox.messages) == ["a@example.com", "c@example.com"]
    statuses = dict(Delivery.objects.values_list("email", "status"))
    assert statuses["refused@example.com"] == "failed"


@override_settings(NEWSLETTER_BATCH_SIZE=10)
def test_connection_lost_while_sending_marks_that_message_unknown_and_resume_sends_the_rest(inbox):
    admin = make_user("admin")
    for n in range(4):
        subscriber(f"r{n}@example.com")
    real_message = services.campaign_message

    def dropping(**kwargs):
        message = real_message(**kwargs)
        if kwargs["to"] == "r1@example.com":

            def drop(*args, **kw):
                raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")

            message.send = drop
        return message

    with mock.patch.object(services, "campaign_message", dropping):
        campaign_start(actor=admin, campaign=make_campaign(admin))
        run_worker()
    # The batch stopped at the broken connection; the server may have had r1's message.
    assert [m["To"] for m in inbox.messages] == ["r0@example.com"]
    statuses = dict(Delivery.objects.values_list("email", "status"))
    assert statuses == {
        "r0@example.com": "sent",
        "r1@example.com": "unknown",
        "r2@example.com": "pending",
        "r3@example.com": "pending",
    }
    call_command("newsletter_resume")
    run_worker()
    received = Counter(m["To"] for m in inbox.messages)
    assert received == {"r0@example.com": 1, "r2@example.com": 1, "r3@example.com": 1}
    assert Campaign.objects.get().status == "sent"
