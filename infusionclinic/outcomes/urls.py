from django.urls import path

from . import views

app_name = "outcomes"

urlpatterns = [
    path("patients/<int:patient_id>/outcomes/", views.patient_outcomes, name="patient"),
    path("patients/<int:patient_id>/outcomes/entry/", views.assessment_entry, name="entry"),
    path("patients/<int:patient_id>/outcomes/amend/", views.assessment_amend, name="amend"),
    path(
        "patients/<int:patient_id>/outcomes/acknowledge/",
        views.alert_acknowledge,
        name="acknowledge",
    ),
    path("outcomes/alerts/", views.alert_list, name="alerts"),
    path("my/questionnaires/", views.my_questionnaires, name="my_list"),
    path(
        "my/questionnaires/done/<int:assessment_id>/", views.my_questionnaire_done, name="my_done"
    ),
    path("my/questionnaires/<str:instrument_code>/", views.my_questionnaire, name="my_fill"),
]
