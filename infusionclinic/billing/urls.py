from django.urls import path

from . import views

app_name = "billing"

urlpatterns = [
    path("patients/<int:patient_id>/billing/", views.patient_billing, name="patient_billing"),
    path("patients/<int:patient_id>/billing/invoice/", views.invoice_create, name="invoice_create"),
    path("patients/<int:patient_id>/billing/package/", views.package_sell, name="package_sell"),
    path(
        "billing/appointments/<int:appointment_id>/invoice/",
        views.appointment_invoice_create,
        name="appointment_invoice",
    ),
    path("billing/invoices/<int:invoice_id>/", views.invoice_detail, name="invoice"),
    path("billing/invoices/<int:invoice_id>/pay/", views.payment_add, name="payment_add"),
    path("billing/invoices/<int:invoice_id>/superbill.pdf", views.superbill_pdf, name="superbill"),
    path("billing/payments/<int:payment_id>/refund/", views.refund_add, name="refund_add"),
    path("billing/payments/<int:payment_id>/receipt.pdf", views.receipt_pdf, name="receipt"),
    path("my/invoices/", views.my_invoices, name="my_invoices"),
]
