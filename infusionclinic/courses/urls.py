from django.urls import path

from . import views

app_name = "courses"

urlpatterns = [
    path("patients/<int:patient_id>/courses/", views.patient_courses, name="patient_courses"),
    path("courses/<int:course_id>/", views.course_detail, name="course"),
    path("protocols/", views.protocol_list, name="protocols"),
    path("protocols/<int:protocol_id>/edit/", views.protocol_edit, name="protocol_edit"),
    path("my/check-ins/", views.my_checkins, name="my_checkins"),
    path("my/check-ins/<int:checkin_id>/", views.my_checkin, name="my_checkin"),
    path("my/check-ins/open/<str:token>/", views.checkin_open, name="checkin_open"),
]
