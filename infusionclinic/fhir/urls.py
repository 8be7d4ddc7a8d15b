from django.urls import path, re_path

from . import views

app_name = "fhir"

urlpatterns = [
    path("fhir/", views.base, name="base"),
    path("fhir/metadata", views.metadata, name="metadata"),
    path("fhir/Patient/<str:patient_id>", views.patient_read, name="patient"),
    path(
        "fhir/Patient/<str:patient_id>/$everything",
        views.patient_everything,
        name="patient_everything",
    ),
    re_path(r"^fhir/(?P<resource_type>[A-Z][A-Za-z]+)$", views.resource_search, name="search"),
    re_path(
        r"^fhir/(?P<resource_type>[A-Z][A-Za-z]+)/(?P<resource_id>[A-Za-z0-9\-.]{1,64})$",
        views.resource_read,
        name="read",
    ),
    # Anything else under /fhir/ answers an OperationOutcome (issue 22 point 7).
    re_path(r"^fhir/(?P<path>.*)$", views.not_found, name="not_found"),
]
