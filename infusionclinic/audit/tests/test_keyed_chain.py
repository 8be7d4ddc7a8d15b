"""The keyed, anchored audit chain (issue 22, point 4): an attacker who can write the database but
holds no HMAC key cannot rewrite the chain (recomputing every later hash with `event_hash`), nor
drop its tail and move the head back (the signed checkpoints outside the database remember it)."""

import json

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from infusionclinic.audit.checkpoints import audit_checkpoint_write, checkpoints_load
from infusionclinic.audit.checks import audit_hmac_keys_check
from infusionclinic.audit.hashing import LEGACY_KEY_ID, event_hash, hashed_fields
from infusionclinic.audit.models import AuditAction, AuditChainHead, AuditEvent
from infusionclinic.audit.services import audit_chain_verify, audit_record
from infusionclinic.audit.tests.attacker import tamper
from tests.factories import PatientFactory, make_user

pytestmark = pytest.mark.django_db

KEY_A = "a-first-key-of-at-least-thirty-two-characters"
KEY_B = "a-second-key-of-at-least-thirty-two-characters"


@pytest.fixture(autouse=True)
def checkpoint_dir(settings, tmp_path):
    settings.AUDIT_CHECKPOINT_DIR = tmp_path
    return tmp_path


def _record(location, n: int = 5) -> list[AuditEvent]:
    nurse = make_user("nurse", location)
    patient = PatientFactory(home_location=location)
    for i in range(n):
        audit_record(actor=nurse, action=AuditAction.VIEW, patient=patient, detail={"i": i})
    return list(AuditEvent.objects.order_by("seq"))


def _rewrite_from(seq: int, *, detail: dict, key_id: str | None = None) -> None:
    """The attack: change event #seq, then recompute its hash and every later one with the
    published `event_hash`, and move the head to the new last hash."""
    prev = AuditEvent.objects.get(seq=seq - 1).hash if seq > 1 else "0" * 64
    for event in AuditEvent.objects.filter(seq__gte=seq).order_by("seq"):
        if event.seq == seq:
            event.detail = detail
        new_hash = event_hash(prev_hash=prev, fields=hashed_fields(event))
        tamper(
            "UPDATE audit_auditevent SET detail = %s, prev_hash = %s, hash = %s, key_id = %s "
            "WHERE id = %s",
            [json.dumps(event.detail), prev, new_hash, key_id or event.key_id, event.pk],
        )
        prev = new_hash
    AuditChainHead.objects.filter(pk=1).update(last_hash=prev)


def test_events_carry_the_current_key_id_and_an_hmac_not_the_plain_hash(location, settings):
    settings.AUDIT_HMAC_KEYS = {"k1": KEY_A}
    settings.AUDIT_HMAC_KEY_ID = "k1"
    first, second = _record(location, 2)[-2:]
    assert second.key_id == "k1"
    assert second.hash != event_hash(prev_hash=second.prev_hash, fields=hashed_fields(second))
    assert audit_chain_verify() == (len(AuditEvent.objects.all()), None)


def test_rewriting_an_event_and_recomputing_every_later_hash_is_caught(location):
    """Attack (a): the chain verified as intact on main after this."""
    events = _record(location)
    target = events[2]
    _rewrite_from(target.seq, detail={"i": "rewritten"})
    checked, problem = audit_chain_verify()
    assert problem is not None
    assert (problem.seq, problem.event_id) == (target.seq, target.pk)
    assert "content does not match" in problem.reason
    with pytest.raises(CommandError, match=rf"event #{target.seq} "):
        call_command("verify_audit")


def test_rewriting_the_chain_as_unkeyed_legacy_events_is_caught(location):
    """Attack (a), downgraded: the rewritten events claim the legacy (unkeyed) key id."""
    events = _record(location)
    _rewrite_from(events[1].seq, detail={"i": "rewritten"}, key_id=LEGACY_KEY_ID)
    _, problem = audit_chain_verify()
    assert problem is not None
    assert problem.seq == events[1].seq
    assert "AUDIT_HMAC_LEGACY_MAX_SEQ=0" in problem.reason


def test_legacy_events_verify_up_to_the_configured_sequence(location, settings):
    """An upgraded database keeps its pre-key events under "legacy" (migration 0005)."""
    events = _record(location)
    # Simulate events sealed before the upgrade: the first three unkeyed, the rest keyed on top.
    prev = "0" * 64
    for event in events:
        if event.seq <= 3:  # noqa: PLR2004
            new_hash = event_hash(prev_hash=prev, fields=hashed_fields(event))
            tamper(
                "UPDATE audit_auditevent SET prev_hash = %s, hash = %s, key_id = %s WHERE id = %s",
                [prev, new_hash, LEGACY_KEY_ID, event.pk],
            )
            prev = new_hash
    from infusionclinic.audit.hashing import chain_hash

    for event in AuditEvent.objects.filter(seq__gt=3).order_by("seq"):
        new_hash = chain_hash(key_id=event.key_id, prev_hash=prev, fields=hashed_fields(event))
        tamper(
            "UPDATE audit_auditevent SET prev_hash = %s, hash = %s WHERE id = %s",
            [prev, new_hash, event.pk],
        )
        prev = new_hash
    AuditChainHead.objects.filter(pk=1).update(last_hash=prev)
    settings.AUDIT_HMAC_LEGACY_MAX_SEQ = 3
    assert audit_chain_verify()[1] is None
    settings.AUDIT_HMAC_LEGACY_MAX_SEQ = 2
    problem = audit_chain_verify()[1]
    assert problem is not None
    assert problem.seq == 3  # noqa: PLR2004


def test_dropping_the_tail_and_moving_the_head_back_is_caught_by_the_checkpoint(
    location, checkpoint_dir
):
    """Attack (b): without a checkpoint what is left is a valid chain; the checkpoint remembers."""
    events = _record(location)
    checkpoint = audit_checkpoint_write()
    assert checkpoint is not None
    assert checkpoint.seq == events[-1].seq
    keep = events[-3]
    for event in events[-2:]:
        tamper("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])
    AuditChainHead.objects.filter(pk=1).update(seq=keep.seq, last_hash=keep.hash)
    empty = checkpoint_dir / "none"
    assert audit_chain_verify(checkpoint_dir=empty)[1] is None  # what main's verify saw
    checked, problem = audit_chain_verify()
    assert checked == keep.seq
    assert problem is not None
    assert "events removed" in problem.reason
    assert checkpoint.name in problem.reason
    with pytest.raises(CommandError, match="signed checkpoint"):
        call_command("verify_audit")


def test_an_edited_or_forged_checkpoint_is_itself_a_finding(location, checkpoint_dir):
    _record(location)
    checkpoint = audit_checkpoint_write()
    path = checkpoint_dir / checkpoint.name
    data = json.loads(path.read_text())
    data["seq"] += 100
    path.write_text(json.dumps(data))
    problem = audit_chain_verify()[1]
    assert problem is not None
    assert "signature does not verify" in problem.reason


def test_a_checkpointed_event_must_keep_its_id_and_hash(location, settings):
    """An attacker holding the key (say, an old one leaked) still cannot move a checkpointed
    event: its id and hash are in the signed file."""
    events = _record(location)
    audit_checkpoint_write()
    target = events[-1]
    from infusionclinic.audit.hashing import chain_hash

    target.detail = {"i": "rewritten"}
    new_hash = chain_hash(
        key_id=target.key_id, prev_hash=target.prev_hash, fields=hashed_fields(target)
    )
    tamper(
        "UPDATE audit_auditevent SET detail = %s, hash = %s WHERE id = %s",
        [json.dumps(target.detail), new_hash, target.pk],
    )
    AuditChainHead.objects.filter(pk=1).update(last_hash=new_hash)
    problem = audit_chain_verify()[1]
    assert problem is not None
    assert "differs from the signed checkpoint" in problem.reason


def test_checkpoint_command_writes_once_per_new_head_and_mails_it(
    location, settings, checkpoint_dir
):
    settings.AUDIT_CHECKPOINT_MAIL_TO = ["security@example.org"]
    _record(location, 2)
    call_command("audit_checkpoint")
    call_command("audit_checkpoint")  # nothing new: no second file
    assert len(checkpoints_load()) == 1
    assert [m.to for m in mail.outbox] == [["security@example.org"]]
    assert '"signature"' in mail.outbox[0].body
    audit_record(actor=None, action=AuditAction.LOGIN_FAILED)
    call_command("audit_checkpoint")
    assert len(checkpoints_load()) == 2  # noqa: PLR2004
    assert audit_chain_verify()[1] is None


def test_keys_rotate_and_old_events_still_verify(location, settings):
    settings.AUDIT_HMAC_KEYS = {"k1": KEY_A}
    settings.AUDIT_HMAC_KEY_ID = "k1"
    _record(location, 2)
    audit_checkpoint_write()
    settings.AUDIT_HMAC_KEYS = {"k1": KEY_A, "k2": KEY_B}
    settings.AUDIT_HMAC_KEY_ID = "k2"
    audit_record(actor=None, action=AuditAction.LOGIN_FAILED)
    assert AuditEvent.objects.order_by("-seq").first().key_id == "k2"
    assert audit_chain_verify()[1] is None
    settings.AUDIT_HMAC_KEYS = {"k2": KEY_B}  # the old key lost: its events cannot be verified
    problem = audit_chain_verify()[1]
    assert problem is not None
    assert "'k1'" in problem.reason


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's trigger (migration 0006)")
def test_sqlite_refuses_update_and_delete_of_an_event(location, settings):
    """Attack (c): on main SQLite took any UPDATE or DELETE."""
    from django.db import DatabaseError, transaction

    settings.AUDIT_SQLITE_ALLOW_DELETE = False
    event = _record(location, 1)[-1]
    for sql in (
        "UPDATE audit_auditevent SET detail = '{}' WHERE id = %s",
        "UPDATE audit_auditevent SET hash = 'x' WHERE id = %s",
        "DELETE FROM audit_auditevent WHERE id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cur,
        ):
            cur.execute(sql, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).hash == event.hash


def test_deploy_check_wants_keys_from_the_environment(settings):
    settings.AUDIT_HMAC_KEYS = {}
    assert [e.id for e in audit_hmac_keys_check(None)] == ["audit.E001"]
    settings.AUDIT_HMAC_KEYS = {"k1": "short"}
    settings.AUDIT_HMAC_KEY_ID = "k1"
    assert [e.id for e in audit_hmac_keys_check(None)] == ["audit.E003"]
    settings.AUDIT_HMAC_KEYS = {"k1": KEY_A}
    settings.AUDIT_HMAC_KEY_ID = "k9"
    assert [e.id for e in audit_hmac_keys_check(None)] == ["audit.E002"]
    settings.AUDIT_HMAC_KEY_ID = "k1"
    assert audit_hmac_keys_check(None) == []
