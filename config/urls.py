from django.contrib import admin
from django.shortcuts import redirect
from django.urls import include, path

from infusionclinic.api.api import api


def root(request):  # type: ignore[no-untyped-def]
    return redirect("accounts:home" if request.user.is_authenticated else "accounts:login")


urlpatterns = [
    path("", root, name="root"),
    path("", include("infusionclinic.accounts.urls")),
    path("", include("infusionclinic.patients.urls")),
    path("", include("infusionclinic.audit.urls")),
    path("", include("infusionclinic.scheduling.urls")),
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
]
