from django.conf import settings
from django.db import models


class IdempotencyKey(models.Model):
    """One `Idempotency-Key` a client sent to one endpoint, with the answer it got.

    The unique constraint is what makes a retry safe under concurrency: the first request inserts
    the row inside its transaction; a concurrent retry's insert waits for that transaction and
    then fails, and it replays the stored answer instead of running the handler a second time.
    Rows hold the answer (which may contain patient data) only until `expires_at`.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    endpoint = models.CharField(max_length=300, help_text="method and path, e.g. POST /api/v1/…")
    request_sha256 = models.CharField(max_length=64)
    # Filled in before the transaction that inserted the row commits; 0 is never seen by others.
    response_status = models.PositiveSmallIntegerField(default=0)
    response_body = models.BinaryField(default=b"")
    response_content_type = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "endpoint", "key"], name="ops_idempotency_key_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.key}"
