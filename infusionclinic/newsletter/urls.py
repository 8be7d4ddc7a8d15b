from django.urls import path

from . import views

app_name = "newsletter"

urlpatterns = [
    path("newsletter/subscribe/", views.subscribe, name="subscribe"),
    path("newsletter/confirm/<str:token>/", views.confirm, name="confirm"),
    path("newsletter/unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("staff/newsletter/", views.campaign_list, name="campaign_list"),
    path("staff/newsletter/new/", views.campaign_new, name="campaign_new"),
    path("staff/newsletter/subscribers.csv", views.subscribers_csv, name="subscribers_csv"),
    path("staff/newsletter/<int:campaign_id>/", views.campaign_detail, name="campaign_detail"),
    path("staff/newsletter/<int:campaign_id>/edit/", views.campaign_edit, name="campaign_edit"),
    path("staff/newsletter/<int:campaign_id>/test/", views.campaign_test, name="campaign_test"),
    path("staff/newsletter/<int:campaign_id>/send/", views.campaign_send, name="campaign_send"),
    path(
        "staff/newsletter/<int:campaign_id>/resume/", views.campaign_resume, name="campaign_resume"
    ),
]
