import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from infusionclinic.audit.models import AppendOnlyError, AuditAction, AuditEvent
from infusionclinic.audit.services import audit_chain_verify, audit_record
from infusionclinic.audit.tests.attacker import tamper
from infusionclinic.common.context import client_context
from tests.factories import PatientFactory, make_user

pytestmark = pytest.mark.django_db


def _record_three(location):
    nurse = make_user("nurse", location)
    patient = PatientFactory(home_location=location)
    with client_context(client_address="203.0.113.9", channel="web"):
        events = [
            audit_record(actor=nurse, action=AuditAction.VIEW, patient=patient, obj=patient)
            for _ in range(3)
        ]
    return nurse, patient, events


def test_events_are_chained_and_record_who_what_where(location):
    nurse, patient, events = _record_three(location)
    first, second, third = events
    assert [e.seq for e in events] == [first.seq, first.seq + 1, first.seq + 2]
    assert second.prev_hash == first.hash
    assert third.prev_hash == second.hash
    assert first.actor_email == nurse.email
    assert first.actor_role == "nurse"
    assert first.patient_id == patient.pk
    assert first.object_id == str(patient.pk)
    assert first.object_type == "patients.Patient"
    assert first.client_address == "203.0.113.9"
    assert first.channel == "web"
    assert audit_chain_verify() == (AuditEvent.objects.count(), None)


def test_model_and_queryset_refuse_update_and_delete(location):
    _, _, (event, *_) = _record_three(location)
    event.action = AuditAction.EXPORT
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="export")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()


def test_verify_audit_names_the_first_edited_event(location):
    _, _, (first, second, third) = _record_three(location)
    call_command("verify_audit")  # intact
    with transaction.atomic():
        tamper(
            "UPDATE audit_auditevent SET actor_email = %s WHERE id = %s",
            ["someone@else", second.pk],
        )
    with pytest.raises(CommandError, match=rf"event #{second.seq} \(id {second.pk}\).*hash"):
        call_command("verify_audit")


def test_verify_audit_detects_a_deleted_event(location):
    _, _, (first, second, third) = _record_three(location)
    with transaction.atomic():
        tamper("DELETE FROM audit_auditevent WHERE id = %s", [second.pk])
    with pytest.raises(CommandError, match=rf"event #{third.seq}.*sequence gap"):
        call_command("verify_audit")


def test_verify_audit_detects_removal_of_the_newest_events(location):
    _, _, (first, second, third) = _record_three(location)
    with transaction.atomic():
        tamper("DELETE FROM audit_auditevent WHERE id = %s", [third.pk])
    with pytest.raises(CommandError, match="events removed"):
        call_command("verify_audit")


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditevent SET actor_email = 'x' WHERE id = %s",
        "DELETE FROM audit_auditevent WHERE id = %s",
    ],
)
def test_trigger_refuses_update_and_delete(location, sql, settings):
    """PostgreSQL's trigger (0002) and, since issue 22.4, SQLite's (0006)."""
    from django.db.utils import DatabaseError

    settings.AUDIT_SQLITE_ALLOW_DELETE = False  # on only for the test runner's flush
    _, _, (event, *_) = _record_three(location)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cur,
    ):
        cur.execute(sql, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).actor_email == event.actor_email


def test_a_missing_chain_head_is_restored_from_the_last_event(location):
    from infusionclinic.audit.models import AuditChainHead

    _, _, (*_, last) = _record_three(location)
    AuditChainHead.objects.all().delete()  # as `manage.py flush` leaves it
    event = audit_record(actor=None, action=AuditAction.LOGIN_FAILED)
    assert event.seq == last.seq + 1
    assert event.prev_hash == last.hash
    assert audit_chain_verify() == (AuditEvent.objects.count(), None)
