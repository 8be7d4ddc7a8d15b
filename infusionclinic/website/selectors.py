"""Reads for the public site. A public page is read from the cache: after the first view a page
costs no database query until an admin edits it (`page_update` drops the cached copy)."""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404
from django.utils.safestring import SafeString, mark_safe

from infusionclinic.accounts.models import Location, User
from infusionclinic.accounts.roles import Perm
from infusionclinic.common.markdown import markdown_to_safe_html

from .models import ConsultationRequest, LeadStatus, Page
from .pages import PAGES_BY_SLUG


@dataclass(frozen=True)
class RenderedPage:
    slug: str
    title: str
    description: str
    html: SafeString
    updated_at: datetime


LOCATIONS_CACHE_KEY = "website:locations"


def _cache_key(slug: str) -> str:
    return f"website:page:{slug}"


def with_clinic_name(text: str) -> str:
    return text.replace("{{ clinic }}", settings.CLINIC_NAME)


def page_render(page: Page) -> RenderedPage:
    html = markdown_to_safe_html(with_clinic_name(page.body_markdown))
    return RenderedPage(
        slug=page.slug,
        title=with_clinic_name(page.title),
        description=with_clinic_name(page.description),
        html=mark_safe(html),  # noqa: S308 -- sanitized by nh3 in markdown_to_safe_html
        updated_at=page.updated_at,
    )


def page_get_public(*, slug: str) -> RenderedPage:
    if slug not in PAGES_BY_SLUG:
        raise Http404("No such page.")
    key = _cache_key(slug)
    rendered = cache.get(key)
    if rendered is None:
        page = Page.objects.filter(slug=slug).first()
        if page is None:
            raise Http404("No such page.")
        rendered = page_render(page)
        cache.set(key, rendered, timeout=settings.PUBLIC_PAGE_CACHE_SECONDS)
    return rendered


@dataclass(frozen=True)
class PublicLocation:
    name: str
    address: str
    phone: str


def public_locations() -> list[PublicLocation]:
    """The clinic's sites for the locations and contact pages, cached like the pages. Locations
    change rarely (an admin command), so they simply expire after PUBLIC_PAGE_CACHE_SECONDS."""
    locations = cache.get(LOCATIONS_CACHE_KEY)
    if locations is None:
        locations = [
            PublicLocation(name=loc.name, address=loc.address, phone=loc.phone)
            for loc in Location.objects.order_by("name")
        ]
        cache.set(LOCATIONS_CACHE_KEY, locations, timeout=settings.PUBLIC_PAGE_CACHE_SECONDS)
    return locations


def page_cache_forget(*, slug: str) -> None:
    cache.delete(_cache_key(slug))


def consultation_requests_for_user(
    *, user: User, status: str | None = None
) -> QuerySet[ConsultationRequest]:
    if not user.has_role_perm(Perm.LEADS_MANAGE):
        raise PermissionDenied
    leads = ConsultationRequest.objects.select_related("status_changed_by")
    if status in LeadStatus.values:
        leads = leads.filter(status=status)
    return leads
