from django.urls import path

from . import views

app_name = "audit"

urlpatterns = [
    path("audit/", views.audit_report, name="report"),
    path("audit/export.csv", views.audit_export_csv, name="export_csv"),
]
