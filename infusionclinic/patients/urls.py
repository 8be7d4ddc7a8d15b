from django.urls import path

from . import views

app_name = "patients"

urlpatterns = [
    path("patients/", views.patient_list, name="list"),
    path("patients/new/", views.patient_create, name="create"),
    path("patients/<int:patient_id>/", views.patient_chart_view, name="chart"),
    path("patients/<int:patient_id>/edit/", views.patient_edit, name="edit"),
    path("patients/<int:patient_id>/measurements/", views.measurement_add, name="measurement_add"),
    path("patients/<int:patient_id>/allergies/", views.allergy_add, name="allergy_add"),
    path("patients/<int:patient_id>/medications/", views.medication_add, name="medication_add"),
    path("patients/<int:patient_id>/diagnoses/", views.diagnosis_add, name="diagnosis_add"),
    path("patients/<int:patient_id>/portal-invitation/", views.portal_invite, name="portal_invite"),
    path("my/chart/", views.my_chart, name="my_chart"),
    path("emergency-access/", views.emergency_access, name="emergency_access"),
]
