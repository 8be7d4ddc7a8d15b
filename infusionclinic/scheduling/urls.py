from django.urls import path

from . import views

app_name = "scheduling"

urlpatterns = [
    path("schedule/", views.schedule_home, name="home"),
    path("schedule/<str:location_code>/book/", views.visit_patient_pick, name="visit_pick"),
    path("schedule/<str:location_code>/<str:day>/", views.day_view, name="day"),
    path("schedule/<str:location_code>/<str:day>/week/", views.week_view, name="week"),
    path("appointments/<int:appointment_id>/", views.appointment_detail, name="appointment"),
    path("appointments/<int:appointment_id>/confirm/", views.safety_confirm, name="safety_confirm"),
    path("patients/<int:patient_id>/series/", views.series_book, name="series"),
    path("patients/<int:patient_id>/book/", views.visit_book, name="visit_book"),
    path("my/appointments/", views.my_appointments, name="my_appointments"),
    path("calendar-feed/", views.feed_manage, name="feed_manage"),
    path("calendar-feed/<str:token>.ics", views.feed, name="feed"),
]
