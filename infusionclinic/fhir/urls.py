from django.urls import path

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
]
