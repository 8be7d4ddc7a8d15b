from django.urls import path

from . import views

app_name = "analytics"

urlpatterns = [
    path("analytics/", views.analytics_dashboard, name="dashboard"),
    path("analytics/export.csv", views.analytics_export_csv, name="export_csv"),
]
