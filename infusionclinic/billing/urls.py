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
    path(
        "billing/invoices/<int:invoice_id>/pay-online/",
        views.invoice_pay_online,
        name="pay_online",
    ),
    path("my/packages/", views.my_packages, name="my_packages"),
    path("my/packages/<int:plan_id>/buy/", views.my_package_buy, name="my_package_buy"),
    path(
        "patients/<int:patient_id>/billing/package/online/",
        views.package_buy_online,
        name="package_buy_online",
    ),
    path(
        "billing/packages/<int:purchase_id>/refund/",
        views.package_refund,
        name="package_refund",
    ),
    path("my/card/", views.my_card, name="my_card"),
    path("my/card/setup/", views.my_card_setup, name="my_card_setup"),
    path("my/card/<int:card_id>/remove/", views.my_card_remove, name="my_card_remove"),
    path(
        "billing/appointments/<int:appointment_id>/fee/",
        views.appointment_fee,
        name="appointment_fee",
    ),
    path("billing/deposits/<int:deposit_id>/pay/", views.deposit_pay, name="deposit_pay"),
    path("billing/deposits/<int:deposit_id>/refund/", views.deposit_refund, name="deposit_refund"),
    path("billing/stripe/webhook/", views.stripe_webhook, name="stripe_webhook"),
    path(
        "billing/reconciliation/<slug:location_code>/",
        views.stripe_reconciliation,
        name="reconciliation",
    ),
    path(
        "billing/reconciliation/<slug:location_code>/stripe.csv",
        views.stripe_reconciliation_csv,
        name="reconciliation_csv",
    ),
]
