"""`/fhir/Communication/{id}` and `/fhir/Communication?patient=`: secure messages through the FHIR
REST interface, with the messaging access rule (a message of a thread the caller may not read is
not found) on top of the chart's; every read and search audited."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse

from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.ids import id_from_path
from infusionclinic.fhir.resources import Source, validate
from infusionclinic.fhir.views import _json, _searchset, fhir_view
from infusionclinic.patients.models import Patient
from infusionclinic.patients.selectors import patient_get_for_user, patients_visible_to

from .fhir import communication_resource, communications_for
from .models import Message
from .selectors import threads_visible_to


def _visible_messages(request: HttpRequest) -> QuerySet[Message]:
    patients: QuerySet[Patient] = patients_visible_to(user=request.user)
    return communications_for(patients).filter(thread__in=threads_visible_to(user=request.user))


@fhir_view
def communication_read(request: HttpRequest, communication_id: str) -> HttpResponse:
    pk = id_from_path(communication_id)
    message = _visible_messages(request).filter(pk=pk).first() if pk is not None else None
    if message is None:
        audit_record(
            actor=request.user,
            action=AuditAction.DENIED,
            detail={"object_type": "messaging.Message", "requested_id": communication_id[:64]},
        )
        raise Http404
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient=message.thread.patient,
        obj=message,
        detail={"fhir": "Communication"},
    )
    return _json(validate(communication_resource(message)))


@fhir_view
def communication_search(request: HttpRequest) -> HttpResponse:
    qs = _visible_messages(request)
    patient_param = request.GET.get("patient", "").removeprefix("Patient/")
    if patient_param:
        patient = patient_get_for_user(user=request.user, patient_id=patient_param)
        qs = qs.filter(thread__patient=patient)
    source = Source("Communication", lambda patients: qs, communication_resource)
    bundle, patient_ids = _searchset(request, [(source, qs)])
    audit_record(
        actor=request.user,
        action=AuditAction.SEARCH,
        detail={
            "fhir": "Communication",
            "query": request.GET.urlencode()[:500],
            "patient_ids": sorted(patient_ids),
        },
    )
    return _json(bundle)
