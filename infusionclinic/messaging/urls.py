from django.urls import path

from . import views

app_name = "messaging"

urlpatterns = [
    path("messages/", views.messages_home, name="home"),
    path("messages/mine/", views.my_threads, name="my_threads"),
    path("messages/new/", views.compose, name="compose"),
    path("messages/inbox/<int:location_id>/", views.inbox, name="inbox"),
    path("messages/threads/<int:thread_id>/", views.thread_view, name="thread"),
    path("messages/threads/<int:thread_id>/update/", views.thread_update, name="thread_update"),
    path("messages/threads/<int:thread_id>/file/", views.thread_file, name="thread_file"),
    path(
        "messages/attachments/<int:attachment_id>/",
        views.attachment_download,
        name="attachment",
    ),
    path("messages/filed/<int:filing_id>/", views.filing_download, name="filing"),
]
