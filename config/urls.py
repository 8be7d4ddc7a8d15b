from django.contrib import admin
from django.urls import include, path

from infusionclinic.api.api import api
from infusionclinic.website.views import home

urlpatterns = [
    # The public home page; logged-in people are sent on to their own home (website.views.home).
    path("", home, name="root"),
    # First after the root: the resolver tries patterns in order, and API calls are the busiest
    # requests (monitors, integrations); behind the page includes each call was matched against
    # ~140 page patterns first (issue 13 profile: ~1 ms of CPU per request).
    path("api/v1/", api.urls),
    path("", include("infusionclinic.accounts.urls")),
    path("", include("infusionclinic.patients.urls")),
    path("", include("infusionclinic.courses.urls")),
    path("", include("infusionclinic.dosing.urls")),
    path("", include("infusionclinic.audit.urls")),
    # Bulk $export and SMART App Launch (OAuth2 at /o/): before fhir.urls, whose
    # `fhir/Patient/<id>` would take `fhir/Patient/$export`.
    path("", include("infusionclinic.fhir.bulk_urls")),
    path("", include("infusionclinic.fhir.urls")),
    path("o/", include("infusionclinic.fhir.oauth_urls")),
    path("", include("infusionclinic.reports.urls")),
    path("", include("infusionclinic.outcomes.urls")),
    path("", include("infusionclinic.website.urls")),
    path("", include("infusionclinic.newsletter.urls")),
    path("", include("infusionclinic.intake.urls")),
    path("", include("infusionclinic.scheduling.urls")),
    path("", include("infusionclinic.controlled.urls")),
    path("", include("infusionclinic.billing.urls")),
    path("", include("infusionclinic.infusions.urls")),
    path("", include("infusionclinic.analytics.urls")),
    path("", include("infusionclinic.portal.urls")),
    path("", include("infusionclinic.messaging.urls")),
    path("admin/", admin.site.urls),
]
