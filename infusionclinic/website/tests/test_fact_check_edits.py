"""site-facts.md on every admin edit (website.factcheck): wording the fact-check found wrong is
refused with what to say instead, and the SITE-R3 statements cannot be edited off the site."""

import pytest
from django.core.exceptions import ValidationError

from infusionclinic.website.models import Page
from infusionclinic.website.services import page_update
from tests.factories import logged_in_client, make_user


def _edit(page: Page, body: str, *, title: str | None = None) -> Page:
    return page_update(
        actor=make_user("admin"),
        page=page,
        title=title or page.title,
        description=page.description,
        body_markdown=body,
        base_version=page.version,
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("wording", "rule"),
    [
        ("Ketamine is **non-habit forming**.", "SITE-12"),
        ("Ketamine can cure depression.", "SITE-R2"),
        ("Results are guaranteed.", "SITE-R2"),
        ("It is safe and effective.", "SITE-13"),
        ("Ketamine plasticizes the brain quickly.", "SITE-8"),
        ("Our IV drip uses R-ketamine.", "SITE-R1"),
    ],
)
def test_an_edit_with_wording_the_fact_check_found_wrong_is_refused_and_nothing_saved(
    wording, rule
):
    page = Page.objects.get(slug="side-effects")
    before = page.body_markdown
    with pytest.raises(ValidationError) as exc:
        _edit(page, before + "\n" + wording + "\n")
    message = " ".join(exc.value.message_dict["body_markdown"])
    assert rule in message
    assert "Use instead" in message
    page.refresh_from_db()
    assert (page.version, page.body_markdown) == (1, before)


@pytest.mark.django_db
def test_site_r1_racemic_mix_naming_both_enantiomers_is_allowed():
    page = Page.objects.get(slug="side-effects")
    _edit(page, page.body_markdown + "\nIt is an equal mix of **S-ketamine** and R-ketamine.\n")
    page.refresh_from_db()
    assert page.version == 2


@pytest.mark.django_db
def test_site_r2_blocked_word_in_the_title_is_refused_too():
    page = Page.objects.get(slug="contact")
    with pytest.raises(ValidationError, match="SITE-R2"):
        _edit(page, page.body_markdown, title="A cure for depression")


@pytest.mark.django_db
def test_site_r3_an_edit_removing_the_last_statement_of_the_escort_rule_is_refused():
    """'Adult to take you home' appears on several pages; removing it everywhere but the last
    page goes through, removing it there is refused naming SITE-R3."""
    carrying = [p for p in Page.objects.all() if "adult to take you home" in p.body_markdown]
    assert len(carrying) >= 2
    for page in carrying[:-1]:
        _edit(page, page.body_markdown.replace("adult to take you home", "escort"))
    last = carrying[-1]
    with pytest.raises(ValidationError) as exc:
        _edit(last, last.body_markdown.replace("adult to take you home", "escort"))
    assert "SITE-R3" in str(exc.value)
    assert "escort home" in str(exc.value)


@pytest.mark.django_db
def test_the_admin_page_editor_shows_the_fact_check_message_on_the_field():
    admin = make_user("admin")
    page = Page.objects.get(slug="contact")
    response = logged_in_client(admin).post(
        "/staff/site/contact/",
        {
            "title": page.title,
            "description": page.description,
            "body_markdown": page.body_markdown + "\nWe cure anxiety.\n",
            "version": page.version,
        },
    )
    assert response.status_code == 200
    assert "SITE-R2" in response.content.decode()
    page.refresh_from_db()
    assert page.version == 1
