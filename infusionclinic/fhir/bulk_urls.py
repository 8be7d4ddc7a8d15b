"""Bulk Data `$export` and the SMART configuration (the OAuth2 endpoints are at /o/:
`oauth_urls.py`). Included in config/urls.py before `fhir.urls`, whose
`fhir/Patient/<id>` would otherwise take `Patient/$export`."""

from django.urls import path

from . import bulk_views, smart

app_name = "fhir_bulk"

urlpatterns = [
    path("fhir/$export", bulk_views.system_export, name="system_export"),
    path("fhir/Patient/$export", bulk_views.patient_export, name="patient_export"),
    path("fhir/Group/<str:group_id>/$export", bulk_views.group_export, name="group_export"),
    path("fhir/bulk/<str:job_id>", bulk_views.status, name="status"),
    path("fhir/bulk/<str:job_id>/<str:resource_type>.ndjson", bulk_views.file, name="file"),
    path(".well-known/smart-configuration", smart.smart_configuration, name="smart_configuration"),
    path(
        "fhir/.well-known/smart-configuration",
        smart.smart_configuration,
        name="smart_configuration_fhir",
    ),
]
