"""The public pages: which exist, where they live, and their seed text (data/pages/<slug>.md, a
`title:` and a `description:` line, a blank line, then Markdown)."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.utils import timezone

DATA_DIR = Path(__file__).resolve().parent / "data" / "pages"


@dataclass(frozen=True)
class PublicPage:
    slug: str
    path: str  # URL path, from the site root
    nav_label: str
    in_nav: bool = True


PUBLIC_PAGES: tuple[PublicPage, ...] = (
    PublicPage("home", "", "Home"),
    PublicPage("ketamine-therapy", "ketamine-therapy/", "IV ketamine therapy"),
    PublicPage("the-science", "the-science/", "The science"),
    PublicPage("the-treatment", "the-treatment/", "The treatment"),
    PublicPage("side-effects", "side-effects/", "Side effects"),
    PublicPage("is-it-right-for-me", "is-it-right-for-me/", "Is it right for me?"),
    PublicPage("references", "references/", "References"),
    PublicPage("consultation", "consultation/", "Request a consultation", in_nav=False),
    PublicPage("contact", "contact/", "Contact"),
    PublicPage("locations", "locations/", "Locations"),
)
PAGES_BY_SLUG = {page.slug: page for page in PUBLIC_PAGES}


@dataclass(frozen=True)
class SeedText:
    title: str
    description: str
    body_markdown: str


def seed_text(slug: str) -> SeedText:
    raw = (DATA_DIR / f"{slug}.md").read_text(encoding="utf-8")
    header, _, body = raw.partition("\n\n")
    fields = dict(line.split(": ", 1) for line in header.splitlines())
    return SeedText(fields["title"], fields["description"], body.strip() + "\n")


def seed_pages(page_model: Any, version_model: Any) -> None:
    """Create version 1 of every public page that does not exist yet (run by migration 0002 with
    its historical models). An admin's edits are never overwritten."""
    now = timezone.now()
    for spec in PUBLIC_PAGES:
        if page_model.objects.filter(slug=spec.slug).exists():
            continue
        text = seed_text(spec.slug)
        fields = {"title": text.title, "description": text.description}
        page = page_model.objects.create(
            slug=spec.slug, body_markdown=text.body_markdown, version=1, updated_at=now, **fields
        )
        version_model.objects.create(
            page=page, version=1, body_markdown=text.body_markdown, edited_at=now, **fields
        )
