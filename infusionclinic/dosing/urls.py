from django.urls import path

from . import views

app_name = "dosing"

urlpatterns = [
    path("patients/<int:patient_id>/orders/", views.patient_orders, name="patient_orders"),
    path("orders/<int:order_id>/", views.order_detail, name="order"),
    path("orders/<int:order_id>/sign/", views.order_sign, name="order_sign"),
    path("orders/<int:order_id>/revise/", views.order_revise, name="order_revise"),
]
