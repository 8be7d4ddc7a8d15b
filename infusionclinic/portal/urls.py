from django.urls import path

from . import views

app_name = "portal"

urlpatterns = [
    path("my/", views.home, name="home"),
    path(
        "my/appointments/<int:appointment_id>/confirm/",
        views.appointment_confirm,
        name="appointment_confirm",
    ),
    path(
        "my/appointments/<int:appointment_id>/reschedule/",
        views.appointment_reschedule,
        name="appointment_reschedule",
    ),
    path(
        "my/appointments/<int:appointment_id>/cancel/",
        views.appointment_cancel,
        name="appointment_cancel",
    ),
]
