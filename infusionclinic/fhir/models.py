"""Bulk Data `$export` jobs (FHIR Bulk Data Access IG v2) and the NDJSON files they wrote."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class ExportLevel(models.TextChoices):
    SYSTEM = "system", "System (/$export)"
    PATIENT = "patient", "All patients (/Patient/$export)"
    GROUP = "group", "Group (/Group/[id]/$export)"


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired (files removed)"


class BulkExportJob(models.Model):
    """One kick-off. The id (a UUID) is the status URL's; only the user who kicked it off may
    poll, download or cancel it (anyone else: 404)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    level = models.CharField(max_length=16, choices=ExportLevel.choices)
    # A Group is a location's patients (its id is the location's id).
    location = models.ForeignKey(
        "accounts.Location", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resource_types = models.JSONField(default=list)
    since = models.DateTimeField(null=True, blank=True)
    request_url = models.TextField()
    status = models.CharField(
        max_length=16, choices=ExportStatus.choices, default=ExportStatus.QUEUED
    )
    progress = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    # The manifest's transactionTime: the export holds what was there at the kick-off.
    transaction_time = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    # Which patients the files hold, so each download is audited against them.
    patient_ids = models.JSONField(default=list)

    class Meta:
        ordering = ["-transaction_time"]

    def __str__(self) -> str:
        return f"$export {self.level} {self.id} ({self.status})"


class BulkExportFile(models.Model):
    job = models.ForeignKey(BulkExportJob, on_delete=models.CASCADE, related_name="files")
    resource_type = models.CharField(max_length=64)
    storage_name = models.CharField(max_length=300)  # the name in the default storage
    count = models.PositiveIntegerField()

    class Meta:
        ordering = ["resource_type"]
        constraints = [
            models.UniqueConstraint(fields=["job", "resource_type"], name="bulk_file_one_per_type")
        ]

    def __str__(self) -> str:
        return f"{self.resource_type}.ndjson ({self.count})"
