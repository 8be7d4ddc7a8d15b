from django.urls import path

from . import record_views, views

app_name = "controlled"

urlpatterns = [
    path("controlled/", views.home, name="home"),
    path("controlled/<slug:location_code>/", views.ledger, name="ledger"),
    path("controlled/<slug:location_code>/receive/", views.receive, name="receive"),
    path("controlled/<slug:location_code>/draw/", views.draw, name="draw"),
    path("controlled/<slug:location_code>/administer/", views.administer, name="administer"),
    path("controlled/<slug:location_code>/waste/", views.waste, name="waste"),
    path("controlled/<slug:location_code>/reconcile/", views.reconcile, name="reconcile"),
    path(
        "controlled/<slug:location_code>/discrepancies/<int:discrepancy_id>/",
        views.discrepancy,
        name="discrepancy",
    ),
    path(
        "controlled/<slug:location_code>/reconcile/sign/",
        views.reconcile_sign,
        name="reconcile_sign",
    ),
    path(
        "controlled/<slug:location_code>/registrations/",
        views.registrations,
        name="registrations",
    ),
    path("controlled/<slug:location_code>/destroy/", views.destroy, name="destroy"),
    path("controlled/<slug:location_code>/return/", views.return_stock, name="return"),
    path(
        "controlled/<slug:location_code>/remainder-waste/",
        views.remainder_waste,
        name="remainder_waste",
    ),
    path(
        "controlled/<slug:location_code>/destructions/<int:destruction_id>/form41.csv",
        views.form41_export,
        name="form41",
    ),
    path("controlled/<slug:location_code>/losses/new/", views.loss_new, name="loss_new"),
    path(
        "controlled/<slug:location_code>/losses/<int:report_id>/",
        views.loss_report,
        name="loss_report",
    ),
    path(
        "controlled/<slug:location_code>/losses/<int:report_id>/notice.txt",
        views.loss_notice,
        name="loss_notice",
    ),
    path("controlled/<slug:location_code>/inventory.csv", views.inventory_export, name="inventory"),
    path("controlled/<slug:location_code>/theft-loss.csv", views.loss_export, name="loss_pack"),
    # CS-47: the CS records on their own, per location and date range; CS-20: breakage.
    path(
        "controlled/<slug:location_code>/records/<slug:report>.csv",
        record_views.records_export,
        name="records",
    ),
    path("controlled/<slug:location_code>/breakage/", record_views.breakage_new, name="breakage"),
    path("controlled/<slug:location_code>/transfer/", record_views.transfer_new, name="transfer"),
]
