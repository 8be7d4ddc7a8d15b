import hashlib
import secrets

from django.conf import settings
from django.db import models

from infusionclinic.patients.models import Patient


class ReportShare(models.Model):
    """A secure, expiring, read-only link to a patient's progress report for their referring
    provider. Only the SHA-256 of the token is stored; every open is audited."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="report_shares")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recipient_email = models.EmailField()
    token_digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"report link for patient {self.patient_id} to {self.recipient_email}"

    @staticmethod
    def new_token() -> str:
        return secrets.token_urlsafe(32)

    @staticmethod
    def digest_of(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()
