from django.urls import path

from . import views

app_name = "intake"

urlpatterns = [
    path("patients/<int:patient_id>/intake/", views.intake_page, name="intake"),
    path("patients/<int:patient_id>/intake/amend/", views.intake_amend, name="amend"),
    path(
        "patients/<int:patient_id>/intake/offers/", views.intake_offer_accept, name="offer_accept"
    ),
    path("patients/<int:patient_id>/screening/", views.screening_page, name="screening"),
    path("patients/<int:patient_id>/screening/review/", views.screening_review, name="review"),
    path("patients/<int:patient_id>/treatments/", views.treatment_add, name="treatment_add"),
    path("patients/<int:patient_id>/consent/", views.consent_page, name="consent"),
    path(
        "patients/<int:patient_id>/consent/countersign/",
        views.consent_countersign,
        name="countersign",
    ),
    path("consent/signatures/<int:signature_id>/pdf/", views.consent_pdf, name="consent_pdf"),
    path("my/intake/", views.my_intake, name="my_intake"),
    path("my/consent/", views.my_consent, name="my_consent"),
    path("referrals/", views.referral_list, name="referrals"),
    path("referrals/new/", views.referral_create, name="referral_create"),
    path("referrals/<int:referral_id>/", views.referral_detail, name="referral"),
    path(
        "referrals/<int:referral_id>/treatments/",
        views.referral_treatment_add,
        name="referral_treatment_add",
    ),
    path("referrals/<int:referral_id>/accept/", views.referral_accept, name="referral_accept"),
]
