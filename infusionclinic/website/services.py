"""Writes for the public site: admins edit pages (each edit a new version, audited, cache
dropped), visitors send consultation requests, the front desk moves a lead through its statuses."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from infusionclinic.accounts.models import User
from infusionclinic.accounts.roles import Perm
from infusionclinic.audit.models import AuditAction
from infusionclinic.audit.services import audit_record

from . import factcheck
from .models import ConsultationRequest, ContactPreference, Interest, LeadStatus, Page, PageVersion
from .selectors import page_cache_forget


@transaction.atomic
def page_update(
    *,
    actor: User,
    page: Page,
    title: str,
    description: str,
    body_markdown: str,
    base_version: int,
) -> Page:
    """Save a new version of a public page. `base_version` is the version the editor loaded: two
    admins editing at once get a conflict instead of one silently losing their text."""
    if not actor.has_role_perm(Perm.SITE_EDIT):
        raise PermissionDenied
    page = Page.objects.select_for_update().get(pk=page.pk)
    if page.version != base_version:
        raise ValidationError(
            {
                "body_markdown": [
                    f"Someone else saved this page (now version {page.version}) while you were "
                    "editing. Reload it and apply your change again."
                ]
            }
        )
    title, description, body_markdown = title.strip(), description.strip(), body_markdown.strip()
    errors = {}
    if not title:
        errors["title"] = ["A page needs a title."]
    if not body_markdown:
        errors["body_markdown"] = ["A page cannot be empty."]
    if errors:
        raise ValidationError(errors)
    fact_problems = factcheck.blocked_wording(f"{title}\n{description}\n{body_markdown}")
    others = Page.objects.exclude(pk=page.pk).values_list("body_markdown", flat=True)
    fact_problems += factcheck.missing_statements([body_markdown, *others])
    if fact_problems:
        raise ValidationError({"body_markdown": fact_problems})
    changed = [
        name
        for name, value in (
            ("title", title),
            ("description", description),
            ("body_markdown", body_markdown + "\n"),
        )
        if getattr(page, name) != value
    ]
    if not changed:
        return page
    now = timezone.now()
    page.title, page.description, page.body_markdown = title, description, body_markdown + "\n"
    page.version += 1
    page.updated_at, page.updated_by = now, actor
    page.save()
    PageVersion.objects.create(
        page=page,
        version=page.version,
        title=page.title,
        description=page.description,
        body_markdown=page.body_markdown,
        edited_at=now,
        edited_by=actor,
    )
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=page,
        detail={"slug": page.slug, "version": page.version, "fields": changed},
    )
    # Forget the cached copy now and again after commit: a reader between the two could otherwise
    # cache the old text again.
    page_cache_forget(slug=page.slug)
    transaction.on_commit(lambda: page_cache_forget(slug=page.slug))
    return page


@transaction.atomic
def consultation_request_create(
    *,
    name: str,
    email: str,
    phone: str,
    contact_preference: str,
    reason: str,
    message: str,
    has_mental_health_provider: bool,
    client_address: str,
) -> ConsultationRequest:
    """Store a lead from the public form. The visitor is anonymous, so the audit event has no
    actor; it records the address the request came from."""
    errors: dict[str, list[str]] = {}
    name, email, phone = name.strip(), email.strip().lower(), phone.strip()
    if not name:
        errors["name"] = ["Please tell us your name."]
    try:
        validate_email(email)
    except ValidationError:
        errors["email"] = ["Enter an email address we can reach you at."]
    if contact_preference not in ContactPreference.values:
        errors["contact_preference"] = ["Choose how we should contact you."]
    if contact_preference == ContactPreference.PHONE and not phone:
        errors["phone"] = ["Add a phone number, or choose email."]
    if reason not in Interest.values or reason == Interest.POLICY_RESEARCH:
        errors["reason"] = ["Choose what you would like help with."]
    if errors:
        raise ValidationError(errors)
    lead = ConsultationRequest.objects.create(
        name=name,
        email=email,
        phone=phone,
        contact_preference=contact_preference,
        reason=reason,
        message=message.strip(),
        has_mental_health_provider=has_mental_health_provider,
        created_at=timezone.now(),
        client_address=client_address[:64],
    )
    audit_record(actor=None, action=AuditAction.CREATE, obj=lead, detail={"reason": reason})
    return lead


@transaction.atomic
def consultation_request_set_status(
    *, actor: User, lead: ConsultationRequest, status: str
) -> ConsultationRequest:
    if not actor.has_role_perm(Perm.LEADS_MANAGE):
        raise PermissionDenied
    if status not in LeadStatus.values:
        raise ValidationError({"status": ["Choose one of the listed statuses."]})
    lead = ConsultationRequest.objects.select_for_update().get(pk=lead.pk)
    if lead.status == status:
        return lead
    previous = lead.status
    lead.status = status
    lead.status_changed_at = timezone.now()
    lead.status_changed_by = actor
    lead.save(update_fields=["status", "status_changed_at", "status_changed_by"])
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=lead,
        detail={"status": [previous, status]},
    )
    return lead
