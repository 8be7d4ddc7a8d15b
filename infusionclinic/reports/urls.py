from django.urls import path

from . import views

app_name = "reports"

urlpatterns = [
    path("patients/<int:patient_id>/report/", views.report_view, name="progress"),
    path("patients/<int:patient_id>/report.pdf", views.report_pdf, name="progress_pdf"),
    path("patients/<int:patient_id>/report/share/", views.report_share, name="share"),
    path("patients/<int:patient_id>/report/revoke/", views.report_share_revoke, name="revoke"),
    path("r/<str:token>/", views.shared_report, name="shared"),
    path("r/<str:token>/report.pdf", views.shared_report_pdf, name="shared_pdf"),
]
