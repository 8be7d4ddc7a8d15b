"""Sign-up, double opt-in, unsubscribe, and bad input (issue 3, Build 2 and 3)."""

import re
import time
from unittest import mock

import pytest
from django.core import mail
from django.test import Client, override_settings

from infusionclinic.newsletter.models import Subscriber
from infusionclinic.newsletter.tokens import unsubscribe_token_make

from .factories import subscriber as make_subscriber

SIGN_UP = {"email": "Reader@Example.com", "name": "Robin", "interests": ["depression", "ptsd"]}
CHECK_INBOX = "Check your inbox"


def _confirm_path(message) -> str:
    url = re.search(r"http://127\.0\.0\.1:8000(/newsletter/confirm/[^/\s]+/)", message.body)
    assert url, message.body
    return url.group(1)


@pytest.mark.django_db
def test_sign_up_creates_a_pending_subscriber_and_mails_an_absolute_confirmation_link():
    response = Client().post("/newsletter/subscribe/", SIGN_UP)
    assert response.status_code == 200
    assert CHECK_INBOX in response.content.decode()
    subscriber = Subscriber.objects.get()
    assert (subscriber.email, subscriber.status) == ("reader@example.com", "pending")
    assert subscriber.interests == ["depression", "ptsd"]
    (message,) = mail.outbox
    assert message.to == ["reader@example.com"]
    assert "http://127.0.0.1:8000/newsletter/confirm/" in message.body
    html = message.alternatives[0].content
    assert 'href="http://127.0.0.1:8000/newsletter/confirm/' in html


@pytest.mark.django_db
@override_settings(SITE_URL="https://clinic.example")
def test_confirmation_link_uses_site_url():
    Client().post("/newsletter/subscribe/", SIGN_UP)
    assert "https://clinic.example/newsletter/confirm/" in mail.outbox[0].body


@pytest.mark.django_db
def test_opening_the_link_asks_and_only_the_button_confirms():
    client = Client()
    client.post("/newsletter/subscribe/", SIGN_UP)
    path = _confirm_path(mail.outbox[0])
    page = client.get(path)
    assert page.status_code == 200
    assert "Confirm my subscription" in page.content.decode()
    assert Subscriber.objects.get().status == "pending"  # a link scanner's GET changes nothing
    done = client.post(path)
    assert done.status_code == 200
    assert "You're subscribed" in done.content.decode()
    subscriber = Subscriber.objects.get()
    assert subscriber.status == "confirmed"
    assert subscriber.confirmed_at is not None


@pytest.mark.django_db
def test_repeated_sign_up_gives_the_same_answer_and_never_reveals_subscription():
    client = Client()
    first = client.post("/newsletter/subscribe/", SIGN_UP)
    client.post(_confirm_path(mail.outbox[0]))
    assert Subscriber.objects.get().status == "confirmed"
    again = client.post("/newsletter/subscribe/", {**SIGN_UP, "name": "Someone else"})
    stranger = client.post("/newsletter/subscribe/", {"email": "new@example.com"})
    strip = lambda r: re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", r.content.decode())  # noqa: E731
    assert strip(first) == strip(again) == strip(stranger)
    assert first.status_code == again.status_code == stranger.status_code == 200
    subscriber = Subscriber.objects.get(email="reader@example.com")
    assert (subscriber.status, subscriber.name) == ("confirmed", "Robin")  # unchanged
    assert len(mail.outbox) == 2  # first confirmation + the stranger's; none to the subscriber


@pytest.mark.django_db
def test_repeated_pending_sign_up_does_not_flood_the_inbox():
    client = Client()
    for _ in range(3):
        assert client.post("/newsletter/subscribe/", SIGN_UP).status_code == 200
    assert len(mail.outbox) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("email", ["not-an-email", "a@", "", "x@y@z.com"])
def test_malformed_email_gets_a_clear_message_and_stores_nothing(email):
    response = Client().post("/newsletter/subscribe/", {**SIGN_UP, "email": email})
    assert response.status_code == 400
    assert re.search(
        r"Enter a valid email address|This field is required", response.content.decode()
    )
    assert Subscriber.objects.count() == 0
    assert mail.outbox == []


@pytest.mark.django_db
def test_unknown_interest_is_refused():
    response = Client().post("/newsletter/subscribe/", {**SIGN_UP, "interests": ["crypto"]})
    assert response.status_code == 400
    assert Subscriber.objects.count() == 0


@pytest.mark.django_db
def test_sign_up_honeypot_answers_like_success_and_stores_nothing():
    response = Client().post("/newsletter/subscribe/", {**SIGN_UP, "website": "x"})
    assert response.status_code == 200
    assert CHECK_INBOX in response.content.decode()
    assert Subscriber.objects.count() == 0
    assert mail.outbox == []


@pytest.mark.django_db
@override_settings(PUBLIC_FORM_RATE_LIMIT=2)
def test_sign_ups_over_the_rate_limit_get_429():
    client = Client()
    for n in range(2):
        assert (
            client.post("/newsletter/subscribe/", {"email": f"r{n}@example.com"}).status_code == 200
        )
    response = client.post("/newsletter/subscribe/", {"email": "r9@example.com"})
    assert response.status_code == 429
    assert not Subscriber.objects.filter(email="r9@example.com").exists()


@pytest.mark.django_db
@override_settings(NEWSLETTER_CONFIRM_MAX_AGE_HOURS=72)
def test_expired_confirmation_link_gets_a_clear_page_and_confirms_nothing():
    client = Client()
    with mock.patch("django.core.signing.time.time", return_value=time.time() - 73 * 3600):
        client.post("/newsletter/subscribe/", SIGN_UP)
    path = _confirm_path(mail.outbox[0])
    for response in (client.get(path), client.post(path)):
        assert response.status_code == 400
        assert "This link has expired" in response.content.decode()
    assert Subscriber.objects.get().status == "pending"


@pytest.mark.django_db
def test_tampered_confirmation_link_gets_a_clear_page_and_confirms_nothing():
    client = Client()
    client.post("/newsletter/subscribe/", SIGN_UP)
    path = _confirm_path(mail.outbox[0])
    tampered = path[:-3] + ("A" if path[-3] != "A" else "B") + path[-2:]
    for bad in (tampered, "/newsletter/confirm/garbage/"):
        response = client.post(bad)
        assert response.status_code == 400
        assert "This link does not work" in response.content.decode()
    assert Subscriber.objects.get().status == "pending"


@pytest.mark.django_db
def test_unsubscribe_page_asks_and_unsubscribing_twice_changes_nothing_the_second_time():
    subscriber = make_subscriber("reader@example.com")
    client = Client(enforce_csrf_checks=True)
    path = f"/newsletter/unsubscribe/{unsubscribe_token_make(subscriber_id=subscriber.pk)}/"
    assert "Unsubscribe" in client.get(path).content.decode()
    subscriber.refresh_from_db()
    assert subscriber.status == "confirmed"  # GET changes nothing
    first = client.post(path, {"List-Unsubscribe": "One-Click"})
    assert first.status_code == 200
    assert "You're unsubscribed" in first.content.decode()
    subscriber.refresh_from_db()
    unsubscribed_at = subscriber.unsubscribed_at
    assert subscriber.status == "unsubscribed"
    second = client.post(path)
    assert second.status_code == 200
    assert "You were already unsubscribed" in second.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.unsubscribed_at == unsubscribed_at


@pytest.mark.django_db
def test_tampered_unsubscribe_link_gets_a_clear_page():
    subscriber = make_subscriber("reader@example.com")
    token = unsubscribe_token_make(subscriber_id=subscriber.pk)
    other = token.replace(f"{subscriber.pk}:", f"{subscriber.pk + 1}:", 1)
    response = Client().post(f"/newsletter/unsubscribe/{other}/")
    assert response.status_code == 400
    subscriber.refresh_from_db()
    assert subscriber.status == "confirmed"


@pytest.mark.django_db
def test_resubscribing_after_unsubscribing_needs_a_fresh_confirmation():
    client = Client()
    client.post("/newsletter/subscribe/", SIGN_UP)
    old_path = _confirm_path(mail.outbox[0])
    client.post(old_path)
    subscriber = Subscriber.objects.get()
    client.post(f"/newsletter/unsubscribe/{unsubscribe_token_make(subscriber_id=subscriber.pk)}/")
    # The old confirmation link cannot put the address back on the list.
    assert client.post(old_path).status_code == 400
    assert Subscriber.objects.get().status == "unsubscribed"
    client.post("/newsletter/subscribe/", SIGN_UP)
    assert Subscriber.objects.get().status == "pending"
    assert len(mail.outbox) == 2
    client.post(_confirm_path(mail.outbox[1]))
    assert Subscriber.objects.get().status == "confirmed"
