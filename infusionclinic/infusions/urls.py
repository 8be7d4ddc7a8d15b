from django.urls import path

from . import prn_views, views

app_name = "infusions"

urlpatterns = [
    path("infusions/board/", views.board, name="board_home"),
    path("infusions/board/<str:location_code>/", views.board, name="board"),
    path("infusions/board/<str:location_code>/partial/", views.board_partial, name="board_partial"),
    path(
        "infusions/board/<str:location_code>/facility/",
        views.facility_check,
        name="facility_check",
    ),
    path(
        "infusions/board/<str:location_code>/appointments/<int:appointment_id>/open/",
        views.session_open,
        name="session_open",
    ),
    path("infusions/sessions/<int:session_id>/", views.session_detail, name="session"),
    path(
        "infusions/sessions/<int:session_id>/discharge-sheet/",
        views.discharge_sheet,
        name="discharge_sheet",
    ),
    # Issue 21 point 13: PRN standing orders of a patient.
    path(
        "infusions/patients/<int:patient_id>/standing-orders/",
        prn_views.standing_orders,
        name="standing_orders",
    ),
    path(
        "infusions/patients/<int:patient_id>/standing-orders/revoke/",
        prn_views.standing_order_revoke,
        name="standing_order_revoke",
    ),
    path(
        "infusions/sessions/<int:session_id>/<slug:action>/",
        views.session_action,
        name="session_action",
    ),
]
