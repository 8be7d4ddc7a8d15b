"""A location-scoped clinic admin in the Django admin (issue 22, point 2): manages only users of
its own locations (others answer 404), never its own grants, grants only locations it holds, and
sets nobody's password (passwords change through the reset mail). The attacks are the admin's own
HTTP views, posted as a browser would."""

import pytest
from django.core import mail

from infusionclinic.accounts.models import User
from infusionclinic.audit.models import AuditEvent
from tests.factories import PASSWORD, PatientFactory, logged_in_client, make_user

pytestmark = pytest.mark.django_db


def _change_form(user: User, *, role: str, locations: list[int], **extra: str) -> dict:
    return {
        "email": user.email,
        "full_name": user.full_name,
        "role": role,
        "locations": locations,
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        **extra,
    }


def test_admin_cannot_add_a_location_to_itself_and_then_read_its_charts(location, other_location):
    """Issue 22.2: the attack was to tick another location on one's own change form."""
    admin = make_user("admin", location)
    south_patient = PatientFactory(home_location=other_location)
    client = logged_in_client(admin)
    response = client.post(
        f"/admin/accounts/user/{admin.pk}/change/",
        _change_form(admin, role="admin", locations=[location.pk, other_location.pk]),
    )
    assert response.status_code in (200, 302)
    assert set(admin.locations.values_list("code", flat=True)) == {"north"}
    assert not AuditEvent.objects.filter(action="grant", object_id=str(admin.pk)).exists()
    assert client.get(f"/patients/{south_patient.pk}/").status_code == 404


def test_admin_cannot_change_its_own_role_or_deactivate_itself(location):
    """Issue 22.2: never one's own grants."""
    admin = make_user("admin", location)
    client = logged_in_client(admin)
    data = _change_form(admin, role="nurse", locations=[location.pk])
    del data["is_active"]
    client.post(f"/admin/accounts/user/{admin.pk}/change/", data)
    admin.refresh_from_db()
    assert admin.role == "admin"
    assert admin.is_active


def test_users_of_another_location_answer_404_and_are_not_listed(location, other_location):
    """Issue 22.2: admins manage only users of their locations."""
    admin = make_user("admin", location)
    south_nurse = make_user("nurse", other_location)
    south_patient_user = make_user("patient", patient=PatientFactory(home_location=other_location))
    client = logged_in_client(admin)
    for user in (south_nurse, south_patient_user):
        assert client.get(f"/admin/accounts/user/{user.pk}/change/").status_code == 404
        assert client.get(f"/admin/accounts/user/{user.pk}/history/").status_code == 404
    response = client.post(
        f"/admin/accounts/user/{south_nurse.pk}/change/",
        _change_form(south_nurse, role="admin", locations=[location.pk]),
    )
    assert response.status_code == 404
    south_nurse.refresh_from_db()
    assert south_nurse.role == "nurse"
    listing = client.get("/admin/accounts/user/").content.decode()
    assert south_nurse.email not in listing
    assert south_patient_user.email not in listing


def test_admin_cannot_grant_a_location_it_does_not_hold(location, other_location):
    """Issue 22.2: a grant is limited to the admin's own locations."""
    admin = make_user("admin", location)
    nurse = make_user("nurse", location)
    response = logged_in_client(admin).post(
        f"/admin/accounts/user/{nurse.pk}/change/",
        _change_form(nurse, role="nurse", locations=[location.pk, other_location.pk]),
    )
    assert response.status_code == 200
    assert "locations" in response.context["adminform"].form.errors
    assert set(nurse.locations.values_list("code", flat=True)) == {"north"}


def test_editing_a_shared_nurse_keeps_the_locations_the_admin_does_not_hold(
    location, other_location
):
    """The form offers only the admin's locations; the nurse keeps the others, and role and
    activation (which act at the other location too) are read-only."""
    admin = make_user("admin", location)
    nurse = make_user("nurse", location, other_location)
    response = logged_in_client(admin).post(
        f"/admin/accounts/user/{nurse.pk}/change/",
        _change_form(nurse, role="admin", locations=[location.pk], full_name="Renamed"),
    )
    assert response.status_code == 302
    nurse.refresh_from_db()
    assert nurse.full_name == "Renamed"
    assert nurse.role == "nurse"
    assert set(nurse.locations.values_list("code", flat=True)) == {"north", "south"}


def test_admin_cannot_set_a_patients_password_and_log_in_as_them(location):
    """Issue 22.2: the attack was the admin's set-password form, then logging in as the patient."""
    admin = make_user("admin", location)
    patient_user = make_user("patient", patient=PatientFactory(home_location=location))
    client = logged_in_client(admin)
    url = f"/admin/accounts/user/{patient_user.pk}/password/"
    assert client.get(url).status_code == 404
    response = client.post(
        url, {"password1": "A-new-long-password-1", "password2": "A-new-long-password-1"}
    )
    assert response.status_code == 404
    patient_user.refresh_from_db()
    assert patient_user.check_password(PASSWORD)
    page = client.get(f"/admin/accounts/user/{patient_user.pk}/change/").content.decode()
    assert "/password/" not in page


def test_admin_cannot_turn_a_patients_log_in_into_staff(location):
    """Issue 22.2: a patient's log-in gets no role or locations in the admin."""
    admin = make_user("admin", location)
    patient_user = make_user("patient", patient=PatientFactory(home_location=location))
    logged_in_client(admin).post(
        f"/admin/accounts/user/{patient_user.pk}/change/",
        _change_form(patient_user, role="admin", locations=[location.pk]),
    )
    patient_user.refresh_from_db()
    assert patient_user.role == "patient"
    assert not patient_user.is_staff
    assert not patient_user.locations.exists()


def test_admin_sends_the_reset_mail_instead(location):
    admin = make_user("admin", location)
    nurse = make_user("nurse", location)
    response = logged_in_client(admin).post(
        "/admin/accounts/user/",
        {"action": "send_password_reset", "_selected_action": [nurse.pk]},
    )
    assert response.status_code == 302
    assert [m.to for m in mail.outbox] == [[nurse.email]]
    assert "/accounts/reset/" in mail.outbox[0].body


def test_admin_adds_staff_of_its_locations_without_choosing_their_password(
    location, other_location
):
    """A new user gets a random password nobody sees and the reset mail; the add form offers
    only the admin's locations."""
    admin = make_user("admin", location)
    client = logged_in_client(admin)
    refused = client.post(
        "/admin/accounts/user/add/",
        {"email": "far@example.com", "role": "nurse", "locations": [other_location.pk]},
    )
    assert refused.status_code == 200
    assert not User.objects.filter(email="far@example.com").exists()
    response = client.post(
        "/admin/accounts/user/add/",
        {
            "email": "New.Nurse@example.com",
            "full_name": "New Nurse",
            "role": "nurse",
            "locations": [location.pk],
            "password1": "Chosen-by-the-admin-1",
            "password2": "Chosen-by-the-admin-1",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    user = User.objects.get(email="new.nurse@example.com")
    assert not user.check_password("Chosen-by-the-admin-1")
    assert set(user.locations.values_list("code", flat=True)) == {"north"}
    assert [m.to for m in mail.outbox] == [["new.nurse@example.com"]]
    grant = AuditEvent.objects.get(action="grant", object_id=str(user.pk))
    assert grant.detail == {"role": "nurse", "locations": ["north"], "active": True}


def test_a_location_admin_cannot_open_another_location_or_add_one(location, other_location):
    admin = make_user("admin", location)
    client = logged_in_client(admin)
    assert client.get(f"/admin/accounts/location/{other_location.pk}/change/").status_code == 404
    assert client.get("/admin/accounts/location/add/").status_code == 403


def test_the_superuser_keeps_the_set_password_form(location):
    """The chosen exception: the installation's owner (`createsuperuser`) may still set a
    password in the admin; location admins may not."""
    owner = User.objects.create_superuser("owner@example.com", PASSWORD)
    owner.locations.set([location])
    nurse = make_user("nurse", location)
    response = logged_in_client(owner).post(
        f"/admin/accounts/user/{nurse.pk}/password/",
        {
            "password1": "A-new-long-password-1",
            "password2": "A-new-long-password-1",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302
    nurse.refresh_from_db()
    assert nurse.check_password("A-new-long-password-1")
