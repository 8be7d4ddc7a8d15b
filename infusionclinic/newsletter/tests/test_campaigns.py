"""Campaigns (issue 3, Build 2): Markdown, preview, a test to oneself, sending to every confirmed
subscriber or one interest segment, both parts and the RFC 8058 headers in every mail, delivery
status per recipient, subscriber CSV export."""

import csv
import io

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied

from infusionclinic.audit.models import AuditEvent
from infusionclinic.newsletter.models import Campaign, Delivery
from infusionclinic.newsletter.services import campaign_start
from tests.factories import logged_in_client, make_user

from .factories import campaign as make_campaign
from .factories import subscriber


@pytest.fixture
def admin(db):
    return make_user("admin")


@pytest.mark.django_db
def test_campaign_goes_only_to_confirmed_subscribers_with_both_parts_and_unsubscribe_headers(admin):
    subscriber("a@example.com")
    subscriber("b@example.com")
    subscriber("pending@example.com", status="pending")
    subscriber("gone@example.com", status="unsubscribed")
    assert campaign_start(actor=admin, campaign=make_campaign(admin)) == 2
    assert sorted(m.to[0] for m in mail.outbox) == ["a@example.com", "b@example.com"]
    for message in mail.outbox:
        unsubscribe = message.extra_headers["List-Unsubscribe"]
        assert unsubscribe.startswith("<http://127.0.0.1:8000/newsletter/unsubscribe/")
        assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert unsubscribe.strip("<>") in message.body
        html, mimetype = message.alternatives[0]
        assert mimetype == "text/html"
        assert "<strong>new</strong>" in html
        assert f'href="{unsubscribe.strip("<>")}"' in html
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}
    campaign = Campaign.objects.get()
    assert campaign.status == "sent"
    assert campaign.finished_at is not None


@pytest.mark.django_db
def test_segment_campaign_goes_only_to_subscribers_with_that_interest(admin):
    subscriber("pain@example.com", interests=["chronic_pain"])
    subscriber("both@example.com", interests=["depression", "chronic_pain"])
    subscriber("mood@example.com", interests=["depression"])
    campaign_start(actor=admin, campaign=make_campaign(admin, segment="chronic_pain"))
    assert sorted(m.to[0] for m in mail.outbox) == ["both@example.com", "pain@example.com"]


@pytest.mark.django_db
def test_a_campaign_is_sent_once_only(admin):
    subscriber("a@example.com")
    campaign = make_campaign(admin)
    campaign_start(actor=admin, campaign=campaign)
    with pytest.raises(Exception, match="already sending or sent"):
        campaign_start(actor=admin, campaign=campaign)
    assert len(mail.outbox) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["front_desk", "nurse", "prescriber"])
def test_only_admins_send_campaigns(admin, role):
    subscriber("a@example.com")
    user = make_user(role)
    with pytest.raises(PermissionDenied):
        campaign_start(actor=user, campaign=make_campaign(admin))
    assert logged_in_client(user).get("/staff/newsletter/").status_code == 403
    assert mail.outbox == []


@pytest.mark.django_db
def test_admin_writes_previews_tests_and_sends_a_campaign_through_the_pages(admin):
    subscriber("a@example.com", interests=["ptsd"])
    subscriber("b@example.com", interests=["anxiety"])
    client = logged_in_client(admin)
    response = client.post(
        "/staff/newsletter/new/",
        {"subject": "PTSD research update", "body_markdown": "A *new* study.", "segment": "ptsd"},
    )
    campaign = Campaign.objects.get()
    assert response["Location"] == f"/staff/newsletter/{campaign.pk}/"
    preview = client.get(f"/staff/newsletter/{campaign.pk}/").content.decode()
    assert "A <em>new</em> study." in preview
    assert "Send to 1 subscriber" in preview
    client.post(f"/staff/newsletter/{campaign.pk}/test/")
    (test_copy,) = mail.outbox
    assert test_copy.to == [admin.email]
    assert test_copy.subject == "[Test] PTSD research update"
    assert "List-Unsubscribe" not in test_copy.extra_headers
    assert Delivery.objects.count() == 0  # a test is not a delivery
    client.post(f"/staff/newsletter/{campaign.pk}/send/")
    assert [m.to for m in mail.outbox[1:]] == [["a@example.com"]]
    detail = client.get(f"/staff/newsletter/{campaign.pk}/").content.decode()
    recipients = detail.split("<h3>Recipients</h3>", 1)[1]
    assert "a@example.com</td><td>Sent</td>" in recipients  # delivery status per recipient
    assert "b@example.com" not in recipients
    # A sent campaign can no longer change.
    client.post(
        f"/staff/newsletter/{campaign.pk}/edit/",
        {"subject": "Changed", "body_markdown": "x", "segment": ""},
    )
    assert Campaign.objects.get().subject == "PTSD research update"


@pytest.mark.django_db
def test_campaign_markdown_is_sanitized_in_the_mail(admin):
    subscriber("a@example.com")
    campaign = make_campaign(admin)
    campaign.body_markdown = "Hi <script>alert(1)</script> [x](javascript:alert(2))"
    campaign.save()
    campaign_start(actor=admin, campaign=campaign)
    html = mail.outbox[0].alternatives[0].content
    assert "<script" not in html
    assert "javascript:" not in html


@pytest.mark.django_db
def test_subscriber_csv_export_is_admin_only_audited_and_formula_safe(admin):
    subscriber("a@example.com", interests=["ptsd", "anxiety"])
    s = subscriber("b@example.com", status="pending")
    s.name = "=HYPERLINK(1)"
    s.save()
    response = logged_in_client(admin).get("/staff/newsletter/subscribers.csv")
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == [
        "email",
        "name",
        "interests",
        "status",
        "signed_up",
        "confirmed",
        "unsubscribed",
    ]
    assert rows[1][:4] == ["a@example.com", "", "ptsd anxiety", "confirmed"]
    assert rows[2][1] == "'=HYPERLINK(1)"
    assert AuditEvent.objects.filter(action="export", actor=admin).count() == 1
    front_desk = logged_in_client(make_user("front_desk"))
    assert front_desk.get("/staff/newsletter/subscribers.csv").status_code == 403


@pytest.mark.django_db
def test_admin_campaign_pages_render(admin):
    subscriber("a@example.com")
    client = logged_in_client(admin)
    draft = make_campaign(admin)
    for url in (
        "/staff/newsletter/",
        "/staff/newsletter/new/",
        f"/staff/newsletter/{draft.pk}/",
        f"/staff/newsletter/{draft.pk}/edit/",
    ):
        assert client.get(url).status_code == 200, url
    response = client.post(
        f"/staff/newsletter/{draft.pk}/edit/",
        {"subject": "Renamed", "body_markdown": "Body", "segment": "anxiety"},
    )
    assert response.status_code == 302
    draft.refresh_from_db()
    assert (draft.subject, draft.segment) == ("Renamed", "anxiety")
    assert "1 confirmed" in client.get("/staff/newsletter/").content.decode()
