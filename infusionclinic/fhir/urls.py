from django.urls import path

from infusionclinic.messaging import fhir_views as messaging_fhir

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
    path("fhir/Observation", views.observation_search, name="observation_search"),
    path("fhir/Communication", messaging_fhir.communication_search, name="communication_search"),
    path(
        "fhir/Communication/<str:communication_id>",
        messaging_fhir.communication_read,
        name="communication",
    ),
]
