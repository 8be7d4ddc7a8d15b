"""Issue 21 point 7: a discharged infusion can be billed. The discharge completes the
appointment (scheduling's service, audited, in the discharge's transaction); the appointment and
session pages then offer "Create invoice" in one click (CODE-PX-R1: the codes and units from the
pump's running time, units.py; an active package applied), and the invoice the superbill.

The order (dosing STANDARD): 40 mg over 40 min at 1 mg/mL; the pump runs 35 min (35 mg of the
40 mg drawn): CODE-PX1 96365 × 1 (over 15 min, not over an hour)."""

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from infusionclinic.audit.models import AuditAction, AuditEvent
from infusionclinic.billing import services as billing
from infusionclinic.billing.models import Invoice, PackageRedemption
from infusionclinic.billing.tests.factories import package_plan, price
from infusionclinic.infusions import services
from infusionclinic.infusions.models import PumpEvent, SessionState
from infusionclinic.scheduling.models import Appointment, AppointmentStatus, Chair
from infusionclinic.scheduling.services import BookingConflict, appointment_complete
from tests.factories import logged_in_client, make_user

from .factories import GOOD_ALDRETE, GOOD_PADSS, cs_closed, prechecked, shift_back

pytestmark = pytest.mark.django_db


@pytest.fixture
def appointment(patient, order, location):
    chair = Chair.objects.create(location=location, name="Chair 1")
    start = timezone.now().replace(second=0, microsecond=0) - timedelta(hours=2)
    return Appointment.objects.create(
        patient=patient,
        location=location,
        chair=chair,
        kind="infusion",
        starts_at=start,
        ends_at=start + timedelta(hours=3),
    )


@pytest.fixture
def front_desk(location):
    return make_user("front_desk", location)


def _discharged(nurse, appointment):
    session = services.session_open_for_appointment(actor=nurse, appointment=appointment)
    prechecked(nurse, session)
    services.pump_event_record(actor=nurse, session=session, action="start")
    start = PumpEvent.objects.get(session=session, action="start")
    PumpEvent.objects.filter(pk=start.pk).update(at=timezone.now() - timedelta(minutes=35))
    services.pump_event_record(actor=nurse, session=session, action="stop")
    cs_closed(nurse, session)  # issue 21 point 6: administration and witnessed waste
    services.discharge_score_record(
        actor=nurse, session=session, aldrete=GOOD_ALDRETE, padss=GOOD_PADSS
    )
    shift_back(session, 61)
    services.session_discharge(actor=nurse, session=session, escort_name="Alex Escort")
    session.refresh_from_db()
    return session


def test_discharge_completes_the_appointment_audited_issue21_point7(nurse, appointment):
    session = _discharged(nurse, appointment)
    assert session.state == SessionState.DISCHARGED
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.COMPLETED
    assert appointment.status_changed_at is not None
    event = AuditEvent.objects.get(
        object_type="scheduling.Appointment",
        object_id=str(appointment.pk),
        action=AuditAction.UPDATE,
    )
    assert (event.actor, event.detail["status"], event.detail["from"]) == (
        nurse,
        "completed",
        "booked",
    )
    assert event.detail["session"] == session.pk
    page = logged_in_client(nurse).get(f"/appointments/{appointment.pk}/").content.decode()
    assert "Completed" in page
    assert "Booked" not in page


def test_appointment_complete_is_for_staff_and_only_from_booked(
    nurse, patient, appointment, location
):
    with pytest.raises(PermissionDenied):
        appointment_complete(actor=patient.user, appointment=appointment)
    with pytest.raises(PermissionDenied):
        appointment_complete(actor=make_user("nurse"), appointment=appointment)  # no location
    Appointment.objects.filter(pk=appointment.pk).update(status=AppointmentStatus.CANCELLED)
    appointment.refresh_from_db()
    with pytest.raises(BookingConflict):
        appointment_complete(actor=nurse, appointment=appointment)


def test_one_click_invoice_with_codes_from_pump_time_and_package_issue21_point7(
    nurse, front_desk, patient, appointment, location
):
    """CODE-PX-R1, CODE-PX1: 35 min of pump running time → 96365 × 1; the patient's active
    package pays for that session."""
    price(location, "96365", "400.00")
    price(location, "96366", "150.00")
    purchase = billing.package_sell(actor=front_desk, patient=patient, plan=package_plan(location))
    session = _discharged(nurse, appointment)
    client = logged_in_client(front_desk)
    page = client.get(f"/appointments/{appointment.pk}/").content.decode()
    url = f"/billing/appointments/{appointment.pk}/invoice/"
    assert f'action="{url}"' in page
    assert "Create invoice" in page
    response = client.post(url)
    invoice = Invoice.objects.get(appointment=appointment)
    assert response.status_code == 302
    assert response["Location"] == f"/billing/invoices/{invoice.pk}/"
    assert [(line.code, line.units) for line in invoice.lines.all()] == [("96365", 1)]
    assert invoice.infusion_session_id == session.pk
    assert invoice.infusion_running // timedelta(minutes=1) == 35  # frozen at issue
    assert invoice.package_credit == D("400.00")
    assert PackageRedemption.objects.get(invoice=invoice).purchase == purchase
    # A second click does not make a second invoice.
    again = client.post(url)
    assert again.status_code == 302
    assert Invoice.objects.filter(appointment=appointment).count() == 1
    # The appointment then links the invoice and its superbill.
    page = client.get(f"/appointments/{appointment.pk}/").content.decode()
    assert f"/billing/invoices/{invoice.pk}/superbill.pdf" in page


def test_session_page_shows_the_completed_appointment_and_billing_issue21_point7(
    nurse, appointment
):
    session = _discharged(nurse, appointment)
    page = logged_in_client(nurse).get(f"/infusions/sessions/{session.pk}/").content.decode()
    assert f'href="/appointments/{appointment.pk}/">Completed</a>' in page
    assert "the front desk creates its invoice" in page  # a nurse does not bill


def test_superbill_reachable_for_front_desk_and_admin_404_for_another_location_issue21_point7(
    nurse, front_desk, appointment, location, other_location
):
    price(location, "96365", "400.00")
    _discharged(nurse, appointment)
    logged_in_client(front_desk).post(f"/billing/appointments/{appointment.pk}/invoice/")
    invoice = Invoice.objects.get(appointment=appointment)
    invoice_page = logged_in_client(front_desk).get(f"/billing/invoices/{invoice.pk}/")
    assert f"/billing/invoices/{invoice.pk}/superbill.pdf" in invoice_page.content.decode()
    superbill = f"/billing/invoices/{invoice.pk}/superbill.pdf"
    for user in (front_desk, make_user("admin", location)):
        response = logged_in_client(user).get(superbill)
        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"
    elsewhere = logged_in_client(make_user("front_desk", other_location))
    assert elsewhere.get(superbill).status_code == 404
    assert elsewhere.post(f"/billing/appointments/{appointment.pk}/invoice/").status_code == 404
