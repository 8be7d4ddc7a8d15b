"""Consultation requests (issue 3, Build 1): stored as leads only when submitted, with a honeypot
and a rate limit against spam; the front desk works them on a staff page."""

import pytest
from django.test import Client, override_settings

from infusionclinic.audit.models import AuditEvent
from infusionclinic.website.models import ConsultationRequest, LeadStatus
from tests.factories import logged_in_client, make_user

VALID = {
    "name": "Dana Reyes",
    "email": "Dana@Example.com",
    "phone": "555-0199",
    "contact_preference": "phone",
    "reason": "depression",
    "has_mental_health_provider": "on",
    "message": "Afternoons are best.",
}


@pytest.mark.django_db
def test_is_it_right_for_me_stores_nothing_when_only_read():
    client = Client()
    assert client.get("/is-it-right-for-me/").status_code == 200
    assert client.get("/consultation/").status_code == 200
    assert ConsultationRequest.objects.count() == 0
    assert AuditEvent.objects.count() == 0


@pytest.mark.django_db
def test_submitted_consultation_request_is_stored_as_a_new_lead():
    response = Client().post("/consultation/", VALID)
    assert response.status_code == 302
    assert response["Location"] == "/consultation/thanks/"
    lead = ConsultationRequest.objects.get()
    assert (lead.name, lead.email, lead.status) == ("Dana Reyes", "dana@example.com", "new")
    assert lead.has_mental_health_provider is True
    assert lead.client_address == "127.0.0.1"
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.object_type) == (
        "create",
        None,
        "website.ConsultationRequest",
    )


@pytest.mark.django_db
def test_honeypot_post_gets_the_same_thanks_and_stores_nothing():
    response = Client().post("/consultation/", {**VALID, "website": "http://spam.example"})
    assert response.status_code == 302
    assert response["Location"] == "/consultation/thanks/"
    assert ConsultationRequest.objects.count() == 0


@pytest.mark.django_db
@override_settings(PUBLIC_FORM_RATE_LIMIT=3)
def test_consultation_posts_over_the_rate_limit_get_429_and_are_not_stored():
    client = Client()
    for _ in range(3):
        assert client.post("/consultation/", VALID).status_code == 302
    response = client.post("/consultation/", VALID)
    assert response.status_code == 429
    assert "Please try again later" in response.content.decode()
    assert ConsultationRequest.objects.count() == 3


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "field_error"),
    [
        ({"email": "not-an-email"}, "Enter a valid email address."),
        ({"phone": "", "contact_preference": "phone"}, "Add a phone number, or choose email."),
        ({"reason": ""}, "This field is required."),
        ({"reason": "policy_research"}, "Select a valid choice."),
    ],
)
def test_invalid_consultation_request_is_refused_with_a_message(change, field_error):
    response = Client().post("/consultation/", {**VALID, **change})
    assert response.status_code == 400
    assert field_error in response.content.decode()
    assert ConsultationRequest.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["front_desk", "admin"])
def test_front_desk_and_admin_list_leads_and_move_their_status(role):
    Client().post("/consultation/", VALID)
    lead = ConsultationRequest.objects.get()
    user = make_user(role)
    client = logged_in_client(user)
    page = client.get("/staff/consultation-requests/")
    assert page.status_code == 200
    assert "Dana Reyes" in page.content.decode()
    response = client.post(
        f"/staff/consultation-requests/{lead.pk}/status/", {"status": LeadStatus.CONTACTED}
    )
    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.status, lead.status_changed_by) == ("contacted", user)
    event = AuditEvent.objects.filter(action="update").get()
    assert event.detail == {"status": ["new", "contacted"]}
    assert AuditEvent.objects.filter(action="view", actor=user).exists()
    filtered = client.get("/staff/consultation-requests/?status=new").content.decode()
    assert "Dana Reyes" not in filtered


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["nurse", "prescriber"])
def test_clinical_roles_do_not_see_leads(role):
    Client().post("/consultation/", VALID)
    lead = ConsultationRequest.objects.get()
    client = logged_in_client(make_user(role))
    assert client.get("/staff/consultation-requests/").status_code == 403
    status_url = f"/staff/consultation-requests/{lead.pk}/status/"
    assert client.post(status_url, {"status": "closed"}).status_code == 403
    lead.refresh_from_db()
    assert lead.status == "new"


@pytest.mark.django_db
def test_anonymous_visitor_cannot_reach_the_leads_page():
    response = Client().get("/staff/consultation-requests/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_lead_status_form_does_not_redirect_off_site():
    Client().post("/consultation/", VALID)
    lead = ConsultationRequest.objects.get()
    client = logged_in_client(make_user("front_desk"))
    response = client.post(
        f"/staff/consultation-requests/{lead.pk}/status/",
        {"status": "closed", "back": "https://evil.example/"},
    )
    assert response["Location"] == "/staff/consultation-requests/"
