"""Public pages (no log-in, served from the cache), the consultation form, sitemap.xml and
robots.txt; and the staff pages for leads and page editing."""

from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from infusionclinic.accounts.roles import Perm
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record
from infusionclinic.common.access import require_perm
from infusionclinic.common.middleware import client_address
from infusionclinic.common.ratelimit import rate_limit_exceeded
from infusionclinic.patients.forms import apply_service_errors

from .forms import ConsultationRequestForm, LeadStatusForm, PageEditForm
from .models import LeadStatus, Page
from .pages import PAGES_BY_SLUG, PUBLIC_PAGES
from .selectors import (
    consultation_requests_for_user,
    page_get_public,
    page_render,
    public_locations,
)
from .services import consultation_request_create, consultation_request_set_status, page_update


def public_context(request: HttpRequest, slug: str, **extra: Any) -> dict[str, Any]:
    page = page_get_public(slug=slug)
    return {
        "page": page,
        "canonical_url": settings.SITE_URL + request.path,
        "clinic_name": settings.CLINIC_NAME,
        "site_url": settings.SITE_URL,
        "nav_pages": [p for p in PUBLIC_PAGES if p.in_nav],
        "current_slug": slug,
        **extra,
    }


def form_rate_limited(request: HttpRequest, scope: str) -> bool:
    return rate_limit_exceeded(
        scope=scope,
        key=client_address(request),
        limit=settings.PUBLIC_FORM_RATE_LIMIT,
        window_seconds=settings.PUBLIC_FORM_RATE_WINDOW_SECONDS,
    )


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The site root: the public home page for visitors; people who are logged in go on to their
    own home page (staff dashboard or patient portal)."""
    if request.user.is_authenticated:
        return redirect("accounts:home")
    return render(request, "website/page.html", public_context(request, "home"))


# Pages that list the clinic's sites under their text.
PAGES_WITH_LOCATIONS = {"locations", "contact"}


@require_GET
def public_page(request: HttpRequest, slug: str) -> HttpResponse:
    extra = {"locations": public_locations()} if slug in PAGES_WITH_LOCATIONS else {}
    return render(request, "website/page.html", public_context(request, slug, **extra))


def consultation(request: HttpRequest) -> HttpResponse:
    """The consultation request form. Spam gets the same thank-you page as a real request (a bot
    learns nothing) but nothing is stored; too many posts from one address get 429."""
    form = ConsultationRequestForm(request.POST or None)
    if request.method == "POST":
        if form_rate_limited(request, "consultation"):
            return render(
                request,
                "website/rate_limited.html",
                public_context(request, "consultation"),
                status=429,
            )
        if form.is_spam():
            return redirect("website:consultation_thanks")
        if form.is_valid():
            try:
                data = {k: v for k, v in form.cleaned_data.items() if k != "website"}
                consultation_request_create(**data, client_address=client_address(request))
            except ValidationError as error:
                apply_service_errors(form, error)
            else:
                return redirect("website:consultation_thanks")
    status = 400 if form.errors else 200
    return render(
        request,
        "website/consultation.html",
        public_context(request, "consultation", form=form),
        status=status,
    )


@require_GET
def consultation_thanks(request: HttpRequest) -> HttpResponse:
    return render(
        request, "website/consultation_thanks.html", public_context(request, "consultation")
    )


@require_GET
def sitemap_xml(request: HttpRequest) -> HttpResponse:
    entries = [
        {"loc": f"{settings.SITE_URL}/{p.path}", "lastmod": page_get_public(slug=p.slug).updated_at}
        for p in PUBLIC_PAGES
    ]
    return render(
        request, "website/sitemap.xml", {"entries": entries}, content_type="application/xml"
    )


@require_GET
def robots_txt(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "website/robots.txt",
        {"sitemap_url": f"{settings.SITE_URL}{reverse('website:sitemap')}"},
        content_type="text/plain",
    )


# --- Staff -------------------------------------------------------------------------------------


@login_required
def leads(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status") or None
    rows = list(consultation_requests_for_user(user=request.user, status=status)[:200])
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        detail={"consultation_requests": [lead.pk for lead in rows]},
    )
    return render(
        request,
        "website/leads.html",
        {"leads": rows, "statuses": LeadStatus.choices, "status": status},
    )


@login_required
@require_POST
def lead_set_status(request: HttpRequest, lead_id: int) -> HttpResponse:
    lead = get_object_or_404(consultation_requests_for_user(user=request.user), pk=lead_id)
    form = LeadStatusForm(request.POST)
    if form.is_valid():
        consultation_request_set_status(
            actor=request.user, lead=lead, status=form.cleaned_data["status"]
        )
    back = request.POST.get("back") or ""
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("website:leads")
    return redirect(back)


def _require_site_edit(request: HttpRequest) -> None:
    require_perm(request, Perm.SITE_EDIT)


@login_required
def page_admin_list(request: HttpRequest) -> HttpResponse:
    _require_site_edit(request)
    pages = {page.slug: page for page in Page.objects.select_related("updated_by")}
    rows = [(p, pages.get(p.slug)) for p in PUBLIC_PAGES]
    return render(request, "website/page_admin_list.html", {"rows": rows})


@login_required
def page_edit(request: HttpRequest, slug: str) -> HttpResponse:
    _require_site_edit(request)
    if slug not in PAGES_BY_SLUG:
        raise PermissionDenied
    page = get_object_or_404(Page, slug=slug)
    preview = None
    if request.method == "POST":
        form = PageEditForm(request.POST, instance=Page(slug=page.slug))
        if form.is_valid():
            if "preview" in request.POST:
                preview = page_render(form.instance)
            else:
                try:
                    page_update(
                        actor=request.user,
                        page=page,
                        title=form.cleaned_data["title"],
                        description=form.cleaned_data["description"],
                        body_markdown=form.cleaned_data["body_markdown"],
                        base_version=form.cleaned_data["version"],
                    )
                except ValidationError as error:
                    apply_service_errors(form, error)
                else:
                    return redirect("website:page_edit", slug=slug)
    else:
        form = PageEditForm(instance=page, initial={"version": page.version})
    return render(
        request,
        "website/page_edit.html",
        {
            "page": page,
            "form": form,
            "preview": preview,
            "versions": page.versions.select_related("edited_by")[:20],
            "public_url": "/" + PAGES_BY_SLUG[slug].path,
        },
    )
