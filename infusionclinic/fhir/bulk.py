"""FHIR Bulk Data `$export` (Bulk Data Access IG v2): kick-off, the export task, status,
manifest, cancellation and file reads.

The export reads the one registry of resource sources (`resources.SOURCES`, the same mappers as
`$everything` and `fhir_export`), validates every resource with `resources.validate`, and writes
one NDJSON file per resource type through Django's default storage (`STORAGES["default"]`, under
`fhir-bulk/<job id>/`). It runs on the task queue (django-tasks; `manage.py db_worker`).

Who may export: staff whose role sees the whole chart (clinical lists, scores, signed orders,
courses: nurses and prescribers); the patients are those whose home location is one of theirs
(emergency "break the glass" grants are for one patient's care and are not exported). A Group is
a location: `Group/<location id>`.
"""

from __future__ import annotations

import itertools
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files import File
from django.core.files.storage import storages
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_tasks import task

from infusionclinic.accounts.models import Location, User
from infusionclinic.accounts.roles import STAFF_ROLES, Perm
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.access import denied
from infusionclinic.common.context import client_context
from infusionclinic.patients.models import Patient
from infusionclinic.patients.selectors import patients_visible_to

from .models import BulkExportFile, BulkExportJob, ExportLevel, ExportStatus
from .resources import CHUNK, SOURCES, resource_types, validate

# What a role must hold to export patients' whole records (ARCHITECTURE.md "Who may do what").
BULK_EXPORT_PERMS = (
    Perm.CHART_VIEW_CLINICAL,
    Perm.OUTCOMES_VIEW,
    Perm.ORDER_VIEW_SIGNED,
    Perm.COURSE_VIEW,
)
OUTPUT_FORMATS = ("application/fhir+ndjson", "application/ndjson", "ndjson")
# Kick-off parameters of the IG that this server does not implement: 400 unless the client
# sent `Prefer: handling=lenient`.
UNSUPPORTED_PARAMS = ("_typeFilter", "_elements", "patient", "includeAssociatedData")
STORAGE_PREFIX = "fhir-bulk"


class BulkRequestError(ValueError):
    """A kick-off the server will not run (answered 400 with an OperationOutcome)."""


def bulk_export_allowed(*, user: User) -> bool:
    return (
        user.is_authenticated
        and user.is_active
        and user.role in STAFF_ROLES
        and all(user.has_role_perm(perm) for perm in BULK_EXPORT_PERMS)
    )


def _require_exporter(user: User) -> None:
    if not bulk_export_allowed(user=user):
        audit_record(
            actor=user if user.is_authenticated else None,
            action=AuditAction.DENIED,
            detail={"fhir_bulk": "kick-off", "reason": "role may not export whole charts"},
        )
        raise PermissionDenied("Your role may not export patients' whole records.")


def group_location_get_for_user(*, user: User, group_id: str) -> Location:
    """The location a `Group/<id>` names, if it is one of the user's; otherwise Http404."""
    location = (
        Location.objects.filter(pk=int(group_id), pk__in=user.locations.values("pk")).first()
        if group_id.isdigit()
        else None
    )
    if location is None:
        raise denied(user, "fhir.Group", group_id, "No such group.")
    return location


def export_patients(*, user: User, location: Location | None) -> QuerySet[Patient]:
    """The patients an export by this user holds: home location one of the user's (or the
    group's location), and visible to the user by the one access rule."""
    if not bulk_export_allowed(user=user):
        return Patient.objects.none()
    locations = user.locations.all()
    if location is not None:
        locations = locations.filter(pk=location.pk)
    return patients_visible_to(user=user).filter(home_location__in=locations).order_by("pk")


@dataclass(frozen=True)
class KickOff:
    resource_types: list[str]
    since: datetime | None


def kickoff_parse(params: dict[str, list[str]], *, lenient: bool) -> KickOff:
    """The kick-off's query parameters, checked: `_outputFormat`, `_type` (comma-separated or
    repeated), `_since` (a FHIR instant). Anything else is a 400 unless `lenient`."""
    known = set(resource_types())
    types: list[str] = []
    since: datetime | None = None
    for name, values in params.items():
        if name == "_outputFormat":
            for value in values:
                if value not in OUTPUT_FORMATS:
                    raise BulkRequestError(
                        f"_outputFormat {value!r} is not supported; use application/fhir+ndjson."
                    )
        elif name == "_type":
            for value in values:
                for resource_type in (t.strip() for t in value.split(",")):
                    if resource_type not in known:
                        raise BulkRequestError(
                            f"_type {resource_type!r} is not exported here; "
                            f"types: {', '.join(sorted(known))}."
                        )
                    if resource_type not in types:
                        types.append(resource_type)
        elif name == "_since":
            if len(values) != 1:
                raise BulkRequestError("_since may be given once.")
            since = parse_datetime(values[0])
            if since is None or since.tzinfo is None:
                raise BulkRequestError(
                    "_since must be a FHIR instant with a time zone, e.g. 2026-01-01T00:00:00Z."
                )
            if since > timezone.now():
                raise BulkRequestError("_since is in the future.")
        elif not lenient:
            what = "is not supported" if name in UNSUPPORTED_PARAMS else "is not a parameter"
            raise BulkRequestError(f"{name} {what} of $export here.")
    return KickOff(resource_types=types or sorted(known), since=since)


def bulk_export_start(
    *,
    actor: User,
    level: ExportLevel,
    location: Location | None,
    kickoff: KickOff,
    request_url: str,
) -> BulkExportJob:
    """Record the job and queue it (the queued task is a row in the same database, so it
    commits with the job or not at all). A refusal is audited outside that transaction."""
    _require_exporter(actor)
    with transaction.atomic():
        job = BulkExportJob.objects.create(
            requested_by=actor,
            level=level,
            location=location,
            resource_types=kickoff.resource_types,
            since=kickoff.since,
            request_url=request_url[:2000],
            transaction_time=timezone.now(),
        )
        audit_record(
            actor=actor,
            action=AuditAction.EXPORT,
            obj=job,
            detail={
                "fhir_bulk": "kick-off",
                "level": level,
                "location": location.code if location else None,
                "types": kickoff.resource_types,
                "since": kickoff.since.isoformat() if kickoff.since else None,
            },
        )
        bulk_export_run_task.enqueue(job_id=str(job.pk))
    return job


def bulk_job_get_for_user(*, user: User, job_id: str) -> BulkExportJob:
    """The job, if this user kicked it off; otherwise Http404 (and a `denied` event)."""
    job = (
        BulkExportJob.objects.filter(pk=job_id, requested_by=user).first()
        if _is_uuid(job_id) and user.is_authenticated
        else None
    )
    if job is None:
        raise denied(user, "fhir.BulkExportJob", job_id, "No such export.")
    return job


def _is_uuid(text: str) -> bool:
    import uuid

    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _changed_since(rows: QuerySet[Any], since: datetime | None) -> QuerySet[Any]:
    """`_since`: rows written or changed after the instant, by the model's `updated_at`, else its
    `created_at`. A model with neither is exported whole (the IG lets a server include more)."""
    if since is None:
        return rows
    fields = {f.name for f in rows.model._meta.get_fields()}
    for name in ("updated_at", "created_at"):
        if name in fields:
            return rows.filter(**{f"{name}__gt": since})
    return rows


def _resources(
    patients: QuerySet[Patient], resource_type: str, since: datetime | None, user: Any
) -> Iterator[dict[str, Any]]:
    """As `resources.resources_for` (sources reading the same rows read them once, as `user`
    may read them), with `_since`."""
    sources = [s for s in SOURCES if s.resource_type == resource_type]
    for _, group in itertools.groupby(sources, key=lambda source: source.queryset):
        readers = list(group)
        rows = _changed_since(readers[0].rows(patients, user), since)
        for obj in rows.iterator(chunk_size=CHUNK):
            for source in readers:
                yield source.to_resource(obj)


def _cancelled(job: BulkExportJob) -> bool:
    return (
        BulkExportJob.objects.filter(pk=job.pk).values_list("status", flat=True).first()
        == ExportStatus.CANCELLED
    )


def _set(job: BulkExportJob, **fields: Any) -> None:
    """Commit a status change now (the client polls while the export runs), unless cancelled."""
    BulkExportJob.objects.filter(pk=job.pk).exclude(status=ExportStatus.CANCELLED).update(**fields)
    for name, value in fields.items():
        setattr(job, name, value)


def bulk_export_run(*, job_id: str) -> str:
    """Write the job's files; returns its final status. Access is decided again now, from the
    requester's current role and locations."""
    job = BulkExportJob.objects.select_related("requested_by", "location").get(pk=job_id)
    if job.status != ExportStatus.QUEUED:
        return job.status
    _set(job, status=ExportStatus.RUNNING, progress="Selecting patients")
    storage = storages["default"]
    user = job.requested_by
    patients = export_patients(user=user, location=job.location)
    written: list[BulkExportFile] = []
    try:
        if not bulk_export_allowed(user=user):
            raise PermissionDenied("The requester may no longer export whole records.")
        patient_ids = list(patients.values_list("pk", flat=True))
        for done, resource_type in enumerate(job.resource_types):
            if _cancelled(job):
                break
            _set(
                job,
                progress=f"{done} of {len(job.resource_types)} types written; {resource_type}",
            )
            count = 0
            with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as out:
                for resource in _resources(patients, resource_type, job.since, user):
                    validate(resource)
                    out.write(json.dumps(resource, separators=(",", ":")).encode() + b"\n")
                    count += 1
                if count == 0:
                    continue  # the IG: no file for a type without resources
                out.seek(0)
                name = storage.save(f"{STORAGE_PREFIX}/{job.pk}/{resource_type}.ndjson", File(out))
            written.append(
                BulkExportFile.objects.create(
                    job=job, resource_type=resource_type, storage_name=name, count=count
                )
            )
    except Exception as exc:
        for file in written:
            storage.delete(file.storage_name)
        BulkExportFile.objects.filter(job=job).delete()
        _set(job, status=ExportStatus.FAILED, error=str(exc)[:2000], finished_at=timezone.now())
        raise
    if _cancelled(job):
        _delete_files(job)
        return ExportStatus.CANCELLED
    _set(
        job,
        status=ExportStatus.COMPLETED,
        progress="",
        finished_at=timezone.now(),
        patient_ids=patient_ids,
    )
    with client_context(client_address="task:fhir_bulk_export", channel="task"):
        audit_record(
            actor=user,
            action=AuditAction.EXPORT,
            obj=job,
            detail={
                "fhir_bulk": "written",
                "counts": {f.resource_type: f.count for f in written},
                "patient_ids": patient_ids,
            },
        )
    return ExportStatus.COMPLETED


@task()
def bulk_export_run_task(*, job_id: str) -> str:
    return bulk_export_run(job_id=job_id)


def _delete_files(job: BulkExportJob) -> None:
    storage = storages["default"]
    for file in BulkExportFile.objects.filter(job=job):
        storage.delete(file.storage_name)
    BulkExportFile.objects.filter(job=job).delete()


@transaction.atomic
def bulk_export_delete(*, actor: User, job: BulkExportJob) -> None:
    """DELETE on the status URL: cancel a queued or running export, or (once completed) tell the
    server the client is done with the files. Either way the files are removed."""
    job = BulkExportJob.objects.select_for_update().get(pk=job.pk)
    if job.status in (ExportStatus.CANCELLED, ExportStatus.EXPIRED):
        raise Http404("This export was already cancelled, deleted or expired.")
    job.status = ExportStatus.CANCELLED
    job.finished_at = job.finished_at or timezone.now()
    job.save(update_fields=["status", "finished_at"])
    _delete_files(job)
    audit_record(actor=actor, action=AuditAction.UPDATE, obj=job, detail={"fhir_bulk": "deleted"})


def bulk_exports_expire(*, now: datetime | None = None) -> int:
    """Remove the files of exports finished more than FHIR_BULK_RETENTION_HOURS ago (the IG lets
    a server delete them; the manifest then answers 404); returns how many exports expired."""
    cutoff = (now or timezone.now()) - timedelta(hours=settings.FHIR_BULK_RETENTION_HOURS)
    jobs = BulkExportJob.objects.filter(
        status__in=(ExportStatus.COMPLETED, ExportStatus.FAILED), finished_at__lt=cutoff
    )
    expired = 0
    for job in jobs:
        with transaction.atomic():
            _delete_files(job)
            job.status = ExportStatus.EXPIRED
            job.save(update_fields=["status"])
        expired += 1
    return expired


@task()
def bulk_exports_expire_task() -> int:
    return bulk_exports_expire()


def bulk_file_get_for_user(*, user: User, job_id: str, resource_type: str) -> BulkExportFile:
    job = bulk_job_get_for_user(user=user, job_id=job_id)
    file = (
        BulkExportFile.objects.filter(job=job, resource_type=resource_type).first()
        if job.status == ExportStatus.COMPLETED and bulk_export_allowed(user=user)
        else None
    )
    if file is None:
        raise denied(user, "fhir.BulkExportFile", resource_type, "No such file.")
    return file


def bulk_file_open(*, user: User, file: BulkExportFile) -> File:
    """The file to stream; the read is audited with the patients it holds."""
    audit_record(
        actor=user,
        action=AuditAction.EXPORT,
        obj=file.job,
        detail={
            "fhir_bulk": "download",
            "type": file.resource_type,
            "count": file.count,
            "patient_ids": file.job.patient_ids,
        },
    )
    return storages["default"].open(file.storage_name, "rb")


def manifest(job: BulkExportJob, *, file_url: Any) -> dict[str, Any]:
    return {
        "transactionTime": job.transaction_time.isoformat(),
        "request": job.request_url,
        "requiresAccessToken": True,
        "output": [
            {"type": f.resource_type, "url": file_url(f), "count": f.count} for f in job.files.all()
        ],
        "error": [],
    }
