"""The public site: admin-edited Markdown pages (every edit kept as a version) and the
consultation requests visitors send, which the front desk works as leads."""

from django.conf import settings
from django.db import models


class Page(models.Model):
    """One public page. The fixed set of slugs lives in `website.pages.PUBLIC_PAGES`; the text is
    seeded from data/pages/*.md and edited by admins (`page_update`)."""

    slug = models.SlugField(max_length=64, unique=True)
    title = models.CharField(max_length=200)
    description = models.CharField(
        max_length=300, help_text="One or two sentences for search results and link previews."
    )
    body_markdown = models.TextField()
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField()
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    def __str__(self) -> str:
        return self.title


class PageVersion(models.Model):
    """What a page said at each version, so an edit can be reviewed and undone."""

    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    description = models.CharField(max_length=300)
    body_markdown = models.TextField()
    edited_at = models.DateTimeField()
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["page", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["page", "version"], name="website_page_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.page.slug} v{self.version}"


class Interest(models.TextChoices):
    """What a visitor wants to hear about or be seen for (also the newsletter's segments)."""

    DEPRESSION = "depression", "Depression"
    PTSD = "ptsd", "PTSD"
    ANXIETY = "anxiety", "Anxiety"
    CHRONIC_PAIN = "chronic_pain", "Chronic pain"
    POLICY_RESEARCH = "policy_research", "Policy and research"


class LeadStatus(models.TextChoices):
    NEW = "new", "New"
    CONTACTED = "contacted", "Contacted"
    SCHEDULED = "scheduled", "Consultation booked"
    NOT_SUITABLE = "not_suitable", "Not a candidate / referred elsewhere"
    CLOSED = "closed", "Closed"


class ContactPreference(models.TextChoices):
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone"


class ConsultationRequest(models.Model):
    """A lead from the public consultation form. It is not a chart: the front desk calls back and,
    if the person goes ahead, registers them as a patient."""

    name = models.CharField(max_length=200)
    email = models.EmailField()
    phone = models.CharField(max_length=32, blank=True)
    contact_preference = models.CharField(
        max_length=8, choices=ContactPreference.choices, default=ContactPreference.EMAIL
    )
    reason = models.CharField(max_length=32, choices=Interest.choices)
    message = models.TextField(blank=True)
    has_mental_health_provider = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    client_address = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=LeadStatus.choices, default=LeadStatus.NEW)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    status_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_status_display()})"
