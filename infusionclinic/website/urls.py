from django.urls import path

from . import views
from .pages import PUBLIC_PAGES

app_name = "website"

# The home page ("") is served as "root" by config/urls.py; the rest of the fixed page set here.
urlpatterns = [
    *(
        path(page.path, views.public_page, {"slug": page.slug}, name=page.slug)
        for page in PUBLIC_PAGES
        if page.path and page.slug != "consultation"
    ),
    path("consultation/", views.consultation, name="consultation"),
    path("consultation/thanks/", views.consultation_thanks, name="consultation_thanks"),
    path("sitemap.xml", views.sitemap_xml, name="sitemap"),
    path("robots.txt", views.robots_txt, name="robots"),
    path("staff/consultation-requests/", views.leads, name="leads"),
    path(
        "staff/consultation-requests/<int:lead_id>/status/",
        views.lead_set_status,
        name="lead_set_status",
    ),
    path("staff/site/", views.page_admin_list, name="page_admin_list"),
    path("staff/site/<slug:slug>/", views.page_edit, name="page_edit"),
]
