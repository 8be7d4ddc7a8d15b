"""Write, then seal (issue 13): events are inserted without a shared lock and sealed into the chain
by a short transaction after their own commits; the chain still catches every edit, deletion and
reordering, and events left unsealed too long are reported."""

import threading
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, connections, transaction
from django.http import HttpResponse
from django.test import RequestFactory

from infusionclinic.audit.middleware import AuditSealMiddleware
from infusionclinic.audit.models import AuditAction, AuditChainHead, AuditEvent
from infusionclinic.audit.services import audit_chain_verify, audit_record, audit_seal
from infusionclinic.audit.tests.attacker import tamper
from tests.factories import PatientFactory, api_client, make_user

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks and the trigger are PostgreSQL's"
)


@pytest.fixture
def after_commit(settings):
    settings.AUDIT_SEAL_MODE = "after_commit"


@pytest.mark.django_db
def test_an_event_is_written_unsealed_and_sealed_in_insertion_order(after_commit, location):
    nurse = make_user("nurse", location)
    patient = PatientFactory(home_location=location)
    # The test's transaction never commits, so the after-commit seal never runs: the events stay
    # pending, exactly as they are between a writer's commit and its seal.
    events = [
        audit_record(actor=nurse, action=AuditAction.VIEW, patient=patient, obj=patient)
        for _ in range(3)
    ]
    assert all(e.seq is None and e.hash is None and e.prev_hash is None for e in events)
    assert audit_seal() == 3
    sealed = list(AuditEvent.objects.filter(pk__in=[e.pk for e in events]).order_by("id"))
    assert [e.seq for e in sealed] == [sealed[0].seq, sealed[0].seq + 1, sealed[0].seq + 2]
    assert sealed[1].prev_hash == sealed[0].hash
    assert sealed[2].prev_hash == sealed[1].hash
    head = AuditChainHead.objects.get(pk=1)
    assert (head.seq, head.last_hash) == (sealed[2].seq, sealed[2].hash)
    assert audit_chain_verify() == (AuditEvent.objects.count(), None)
    assert audit_seal() == 0  # nothing pending, nothing changes


@pytest.mark.django_db
def test_sealing_runs_in_batches(after_commit, location):
    for _ in range(5):
        audit_record(actor=None, action=AuditAction.LOGIN_FAILED)
    assert audit_seal(batch_size=2) == 5
    assert not AuditEvent.objects.filter(seq__isnull=True).exists()
    assert audit_chain_verify() == (AuditEvent.objects.count(), None)


@pytest.mark.django_db
def test_one_seal_pass_is_registered_per_transaction(after_commit, location):
    with transaction.atomic():
        for _ in range(4):
            audit_record(actor=None, action=AuditAction.LOGIN_FAILED)
        hooks = [h for _, h, _ in connection.run_on_commit if h.__name__ == "_seal_hook"]
    assert len(hooks) == 1


@pytest.mark.django_db
def test_a_rolled_back_transaction_leaves_no_event(after_commit, location):
    before = AuditEvent.objects.count()

    def change_that_fails() -> None:
        with transaction.atomic():
            audit_record(actor=None, action=AuditAction.LOGIN_FAILED)
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        change_that_fails()
    assert AuditEvent.objects.count() == before
    assert audit_seal() == 0
    assert audit_chain_verify() == (before, None)


@pytest.mark.django_db
def test_verify_seals_pending_events_first_and_the_report_reads_sealed_ones(after_commit, location):
    from tests.factories import logged_in_client

    event = audit_record(actor=None, action=AuditAction.LOGIN_FAILED)
    call_command("verify_audit")
    assert AuditEvent.objects.get(pk=event.pk).seq is not None
    pending = audit_record(actor=None, action=AuditAction.LOGIN_FAILED)
    admin = make_user("admin", location)
    response = logged_in_client(admin).get("/audit/")
    assert response.status_code == 200
    assert AuditEvent.objects.get(pk=pending.pk).seq is not None


@pytest.mark.django_db
def test_verify_reports_events_left_unsealed_too_long(after_commit, location, settings):
    settings.AUDIT_UNSEALED_MAX_AGE_SECONDS = 0
    audit_record(actor=None, action=AuditAction.LOGIN_FAILED)
    time.sleep(0.01)
    with pytest.raises(CommandError, match=r"1 event\(s\) stayed unsealed longer than 0 s"):
        call_command("verify_audit", "--no-seal")
    checked, problem = audit_chain_verify()
    assert problem is not None
    assert "unsealed" in problem.reason
    # That check sealed it: the chain is whole again.
    assert audit_chain_verify() == (AuditEvent.objects.count(), None)


@pytest.mark.django_db
def test_recent_unsealed_events_are_not_a_problem(after_commit, location):
    audit_record(actor=None, action=AuditAction.LOGIN_FAILED)
    assert audit_chain_verify(seal_first=False)[1] is None


def _sealed_three(location):
    nurse = make_user("nurse", location)
    patient = PatientFactory(home_location=location)
    for action in (AuditAction.VIEW, AuditAction.UPDATE, AuditAction.EXPORT):
        audit_record(actor=nurse, action=action, patient=patient, obj=patient)
    audit_seal()
    return list(AuditEvent.objects.order_by("-seq")[:3])[::-1]


@pytest.mark.django_db
def test_verify_detects_two_sealed_events_swapping_content(after_commit, location):
    first, second, _ = _sealed_three(location)
    with transaction.atomic():
        tamper("UPDATE audit_auditevent SET action = %s WHERE id = %s", [second.action, first.pk])
        tamper("UPDATE audit_auditevent SET action = %s WHERE id = %s", [first.action, second.pk])
    with pytest.raises(CommandError, match=rf"event #{first.seq} .*content does not match"):
        call_command("verify_audit")


@pytest.mark.django_db
def test_verify_detects_two_sealed_events_swapping_places(after_commit, location):
    first, second, _ = _sealed_three(location)
    with transaction.atomic():
        # Whole rows exchanged, hashes included: the links no longer follow seq.
        tamper("UPDATE audit_auditevent SET seq = %s WHERE id = %s", [10**12, first.pk])
        tamper("UPDATE audit_auditevent SET seq = %s WHERE id = %s", [first.seq, second.pk])
        tamper("UPDATE audit_auditevent SET seq = %s WHERE id = %s", [second.seq, first.pk])
    with pytest.raises(CommandError, match=rf"event #{first.seq} .*previous-hash link"):
        call_command("verify_audit")


@pytest.mark.django_db
def test_verify_detects_an_edited_and_a_deleted_sealed_event(after_commit, location):
    first, second, third = _sealed_three(location)
    with transaction.atomic():
        tamper("UPDATE audit_auditevent SET detail = %s WHERE id = %s", ['{"x": 1}', third.pk])
    with pytest.raises(CommandError, match=rf"event #{third.seq} .*content does not match"):
        call_command("verify_audit")
    with transaction.atomic():
        tamper("DELETE FROM audit_auditevent WHERE id = %s", [second.pk])
    with pytest.raises(CommandError, match=rf"event #{third.seq} .*sequence gap"):
        call_command("verify_audit")


@pytest.mark.django_db
def test_audit_seal_command_and_task_seal_pending_events(after_commit, location):
    from infusionclinic.audit.tasks import audit_seal_task

    audit_record(actor=None, action=AuditAction.LOGIN_FAILED)
    call_command("audit_seal")
    assert not AuditEvent.objects.filter(seq__isnull=True).exists()
    audit_record(actor=None, action=AuditAction.LOGIN_FAILED)
    audit_seal_task.enqueue()  # the immediate backend in tests
    assert not AuditEvent.objects.filter(seq__isnull=True).exists()


# --- PostgreSQL: the trigger allows exactly the seal -------------------------------------------


def _unsealed(location) -> AuditEvent:
    return audit_record(actor=None, action=AuditAction.LOGIN_FAILED, detail={"n": 1})


def _execute(sql: str, params: list) -> None:
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(sql, params or None)


@pytest.fixture
def deletes_refused(settings):
    """SQLite: the trigger lets DELETE through only for the test runner's flush (test settings)."""
    settings.AUDIT_SQLITE_ALLOW_DELETE = False


@pytest.mark.django_db
def test_trigger_allows_the_seal_once(after_commit, location):
    """PostgreSQL's trigger (0004) and SQLite's (0006, issue 22.4)."""
    event = _unsealed(location)
    seal = "UPDATE audit_auditevent SET seq = %s, prev_hash = %s, hash = %s WHERE id = %s"
    _execute(seal, [10**9, "a" * 64, "b" * 64, event.pk])
    with pytest.raises(DatabaseError, match="append-only: UPDATE refused"):
        _execute(seal, [10**9 + 1, "a" * 64, "c" * 64, event.pk])
    assert AuditEvent.objects.get(pk=event.pk).hash == "b" * 64


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("sql", "params"),
    [
        # the seal together with any other change
        (
            "UPDATE audit_auditevent SET seq = 1000000000, prev_hash = %s, hash = %s, "
            "actor_email = 'x@y' WHERE id = %s",
            ["a" * 64, "b" * 64],
        ),
        (
            "UPDATE audit_auditevent SET seq = 1000000000, prev_hash = %s, hash = %s, "
            "detail = '{\"n\": 2}' WHERE id = %s",
            ["a" * 64, "b" * 64],
        ),
        # half a seal
        ("UPDATE audit_auditevent SET seq = 1000000000, prev_hash = %s WHERE id = %s", ["a" * 64]),
        # any other change to an unsealed event
        ("UPDATE audit_auditevent SET action = 'view' WHERE id = %s", []),
        ("DELETE FROM audit_auditevent WHERE id = %s", []),
    ],
)
def test_trigger_refuses_everything_but_the_seal_on_unsealed_events(
    after_commit, deletes_refused, location, sql, params
):
    """On both databases (SQLite's trigger: issue 22.4)."""
    event = _unsealed(location)
    with pytest.raises(DatabaseError, match="append-only"):
        _execute(sql, [*params, event.pk])
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.seq, stored.action, stored.detail) == (None, "login_failed", {"n": 1})


@postgresql_only
@pytest.mark.django_db
def test_trigger_still_refuses_truncate_without_the_test_setting(location):
    with pytest.raises(DatabaseError, match="TRUNCATE refused"):
        _execute(
            "SET LOCAL infusionclinic.allow_audit_truncate = 'off'; "
            "TRUNCATE audit_auditevent CASCADE",
            [],
        )


# --- PostgreSQL: concurrency -------------------------------------------------------------------


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_leave_a_whole_chain_and_nothing_unsealed(after_commit, location):
    nurse = make_user("nurse", location)
    patient = PatientFactory(home_location=location)
    writers, per_writer = 16, 15
    start = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            start.wait()
            for i in range(per_writer):
                with transaction.atomic():
                    audit_record(
                        actor=nurse, action=AuditAction.VIEW, patient=patient, detail={"i": i}
                    )
                    if i % 5 == 0:  # some transactions hold two events
                        audit_record(actor=nurse, action=AuditAction.SEARCH, patient=patient)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write) for _ in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    written = writers * per_writer + writers * len(range(0, per_writer, 5))
    assert AuditEvent.objects.filter(detail__has_key="i").count() == writers * per_writer
    assert not AuditEvent.objects.filter(seq__isnull=True).exists()  # sealed by the writers
    total = AuditEvent.objects.count()
    assert total >= written
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, total + 1))
    assert audit_chain_verify(seal_first=False) == (total, None)


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_writer_never_waits_for_the_chain_head(after_commit, location):
    """While another transaction holds the head lock (a sealer mid-batch), a writer commits its
    change and its event at once; the event is sealed once the lock is free."""
    audit_seal()  # the head row exists
    locked, release = threading.Event(), threading.Event()

    def hold_the_head() -> None:
        try:
            with transaction.atomic():
                AuditChainHead.objects.select_for_update().get(pk=1)
                locked.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_the_head)
    holder.start()
    assert locked.wait(timeout=10)
    try:
        started = time.perf_counter()
        with transaction.atomic():
            event = audit_record(actor=None, action=AuditAction.LOGIN_FAILED)
        took = time.perf_counter() - started
        assert took < 2, took
        assert AuditEvent.objects.get(pk=event.pk).seq is None  # pending while the lock is held
    finally:
        release.set()
        holder.join()
    assert audit_seal() == 1
    assert AuditEvent.objects.get(pk=event.pk).seq is not None
    assert audit_chain_verify() == (AuditEvent.objects.count(), None)


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_only_a_seal_of_its_own_commits_without_waiting_for_the_disk(after_commit, location):
    """The seal's own transaction turns synchronous_commit off for itself (SET LOCAL); a seal run
    inside a caller's transaction leaves that transaction's durability alone."""
    nurse = make_user("nurse", location)

    def synchronous_commit() -> str:
        with connection.cursor() as cur:
            cur.execute("SHOW synchronous_commit")
            return cur.fetchone()[0]

    statements: list[str] = []

    def relaxes(sql: str) -> bool:
        # `SET LOCAL synchronous_commit TO OFF`, or (issue 20 §3) the same folded into the head
        # lock's statement as `set_config('synchronous_commit', 'off', true)`.
        return "SET LOCAL synchronous_commit TO OFF" in sql or (
            "set_config('synchronous_commit', 'off', true)" in sql
        )

    def record(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        audit_record(actor=nurse, action=AuditAction.VIEW)  # sealed after its own commit
    assert any(relaxes(sql) for sql in statements)
    assert synchronous_commit() == "on"  # SET LOCAL ended with the seal's transaction
    assert not AuditEvent.objects.filter(seq__isnull=True).exists()

    statements.clear()
    with transaction.atomic(), connection.execute_wrapper(record):
        audit_record(actor=nurse, action=AuditAction.VIEW)
        audit_seal()  # inside the caller's transaction
        assert synchronous_commit() == "on"
    assert not any(
        relaxes(sql) for sql in statements[: statements.index("SHOW synchronous_commit")]
    )
    assert audit_chain_verify(seal_first=False)[1] is None


# --- Within a request, the seal waits until the response has gone out -------------------------


def _auditing_view(actor, patient):
    def view(request):
        with transaction.atomic():
            audit_record(actor=actor, action=AuditAction.VIEW, patient=patient, obj=patient)
        return HttpResponse("ok")

    return view


def _pending_count() -> int:
    return AuditEvent.objects.filter(seq__isnull=True).count()


@pytest.mark.django_db(transaction=True)
def test_a_requests_events_are_sealed_once_its_response_is_closed(after_commit, location):
    nurse = make_user("nurse", location)
    patient = PatientFactory(home_location=location)
    handler = AuditSealMiddleware(_auditing_view(nurse, patient))
    response = handler(RequestFactory().get("/"))
    # The view's transaction committed: its event is durable, and not yet sealed while the
    # response is on its way to the client.
    assert _pending_count() == 1
    response.close()  # what the WSGI server does once it has written the response
    assert _pending_count() == 0
    assert audit_chain_verify() == (AuditEvent.objects.count(), None)


@pytest.mark.django_db(transaction=True)
def test_a_response_never_closed_is_sealed_when_the_thread_takes_its_next_request(
    after_commit, location
):
    nurse = make_user("nurse", location)
    patient = PatientFactory(home_location=location)
    handler = AuditSealMiddleware(_auditing_view(nurse, patient))
    handler(RequestFactory().get("/"))  # never closed
    assert _pending_count() == 1
    handler(RequestFactory().get("/")).close()
    assert _pending_count() == 0


@pytest.mark.django_db(transaction=True)
def test_outside_a_request_the_seal_follows_the_commit(after_commit, location):
    nurse = make_user("nurse", location)
    patient = PatientFactory(home_location=location)
    with transaction.atomic():
        audit_record(actor=nurse, action=AuditAction.VIEW, patient=patient, obj=patient)
    assert _pending_count() == 0


@pytest.mark.django_db(transaction=True)
def test_the_api_answers_then_seals(after_commit, location):
    """Through the whole middleware stack: Django's test client closes the response as a server
    does, and by then the chart read's event is in the chain."""
    nurse = make_user("nurse", location)
    patient = PatientFactory(home_location=location)
    response = api_client(nurse).get(f"/api/v1/patients/{patient.pk}")
    assert response.status_code == 200
    assert _pending_count() == 0
    assert AuditEvent.objects.filter(action="view", patient=patient).exclude(seq=None).exists()
