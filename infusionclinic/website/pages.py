"""The public pages: which exist, where they live, and their seed text (data/pages/<slug>.md, a
`title:` and a `description:` line, a blank line, then Markdown)."""

from dataclasses import dataclass
from pathlib import Path

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
