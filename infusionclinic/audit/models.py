"""The append-only, hash-chained audit log of every read and write of patient data.

No code path updates or deletes an event: the model and its queryset refuse, and triggers refuse
UPDATE, DELETE and TRUNCATE (PostgreSQL: migrations 0002, 0004; SQLite: 0006). Each event stores
an HMAC-SHA256 of its own content chained to the previous event's hash, under a key kept outside
the database (`hashing.py`, issue 22 point 4), so an edit made behind the application's back (or a
deleted row: `seq` has no gaps) is found by `manage.py verify_audit`, and so is a removed tail,
against the signed checkpoints of the head written outside the database (`checkpoints.py`).

Write, then seal: an event may be inserted unsealed (`seq`, `prev_hash` and `hash` NULL) in the
transaction of the change it records, without taking any shared lock, and is sealed into the chain
right after that transaction commits (`services.audit_seal`). Sealing is the one UPDATE the
database allows: those three columns go from NULL to a value, once, and nothing else changes.
"""

from typing import Any, NoReturn

from django.conf import settings
from django.db import models


class AuditAction(models.TextChoices):
    VIEW = "view", "Viewed"
    SEARCH = "search", "Searched"
    CREATE = "create", "Created"
    UPDATE = "update", "Changed"
    EXPORT = "export", "Exported"
    DENIED = "denied", "Access refused"
    LOGIN = "login", "Logged in"
    LOGIN_FAILED = "login_failed", "Failed log-in"
    LOGOUT = "logout", "Logged out"
    GRANT = "grant", "Access granted"
    REVOKE = "revoke", "Access revoked"
    BREAK_GLASS = "break_glass", "Emergency access"


class AppendOnlyError(Exception):
    pass


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit events are append-only.")

    def delete(self) -> NoReturn:  # type: ignore[override]
        raise AppendOnlyError("Audit events are append-only.")


class AuditEvent(models.Model):
    # NULL until sealed (see the module docstring); unique once set.
    seq = models.PositiveBigIntegerField(unique=True, null=True, editable=False)
    occurred_at = models.DateTimeField(db_index=True, editable=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    # Snapshots: the event must still say who it was if the account later changes.
    actor_email = models.CharField(max_length=254, blank=True)
    actor_role = models.CharField(max_length=16, blank=True)
    action = models.CharField(max_length=16, choices=AuditAction.choices)
    patient = models.ForeignKey(
        "patients.Patient", null=True, on_delete=models.PROTECT, related_name="+"
    )
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    client_address = models.CharField(max_length=64, blank=True)
    channel = models.CharField(max_length=16, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    # NULL, not "", while unsealed: the seal is the one change the trigger allows (NULL -> value).
    prev_hash = models.CharField(max_length=64, null=True, editable=False)  # noqa: DJ001
    hash = models.CharField(max_length=64, unique=True, null=True, editable=False)  # noqa: DJ001
    # Which HMAC key sealed it (hashing.py; set at insert, from AUDIT_HMAC_KEY_ID). "legacy":
    # sealed before the chain was keyed, plain SHA-256 (migration 0005).
    key_id = models.CharField(max_length=32, default="legacy", editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["patient", "occurred_at"]),
            models.Index(fields=["actor", "occurred_at"]),
            # The sealer's queue: only unsealed rows are in it, so it stays tiny.
            models.Index(
                fields=["id"], condition=models.Q(seq__isnull=True), name="audit_event_unsealed"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.actor_email} {self.action} {self.object_type} {self.object_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit events are append-only.")


class AuditChainHead(models.Model):
    """One row: the last sequence number and hash. Sealers lock it (a row lock on PostgreSQL, the
    write lock on SQLite), so the chain never forks; writers of unsealed events never touch it."""

    seq = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"audit head #{self.seq}"
