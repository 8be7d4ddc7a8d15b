"""The public pages (issue 3, Build 1): served without log-in, from the cache after the first
view, with meta/OpenGraph tags, the footer sign-up form, a sitemap and robots.txt."""

import re

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client, override_settings

from infusionclinic.audit.models import AuditEvent
from infusionclinic.website.models import Page, PageVersion
from infusionclinic.website.pages import PUBLIC_PAGES
from infusionclinic.website.services import page_update
from tests.factories import logged_in_client, make_user

PUBLIC_URLS = ["/" + p.path for p in PUBLIC_PAGES]


@pytest.mark.django_db
@pytest.mark.parametrize("url", PUBLIC_URLS)
def test_public_page_is_served_without_log_in_with_meta_and_opengraph_tags(url):
    response = Client().get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert '<meta name="description" content="' in html
    for tag in ("og:title", "og:description", "og:url", "og:site_name", "og:type"):
        assert f'property="{tag}"' in html
    assert f'<link rel="canonical" href="http://127.0.0.1:8000{url}">' in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    for landmark in ("<header", "<nav", "<main", "<footer"):
        assert landmark in html


@pytest.mark.django_db
@pytest.mark.parametrize("url", PUBLIC_URLS)
def test_every_public_page_has_the_footer_sign_up_form(url):
    html = Client().get(url).content.decode()
    form = re.search(r'<form method="post" action="/newsletter/subscribe/".*?</form>', html, re.S)
    assert form, "footer sign-up form missing"
    for name in ("email", "name", "interests"):
        assert f'name="{name}"' in form.group(0)
    assert 'href="/accounts/login/"' in html  # staff log-in link in the footer


@pytest.mark.django_db
@pytest.mark.parametrize("url", PUBLIC_URLS)
def test_second_view_of_a_public_page_costs_no_database_query(url, django_assert_num_queries):
    client = Client()
    assert client.get(url).status_code == 200
    with django_assert_num_queries(0):
        assert client.get(url).status_code == 200


@pytest.mark.django_db
@override_settings(CLINIC_NAME="Harbor Ketamine Care")
def test_clinic_name_comes_from_the_setting():
    html = Client().get("/").content.decode()
    assert "Harbor Ketamine Care" in html
    assert "{{ clinic }}" not in html


@pytest.mark.django_db
def test_root_sends_logged_in_people_to_their_own_home():
    client = logged_in_client(make_user("front_desk"))
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/home/"


@pytest.mark.django_db
def test_admin_edit_makes_a_new_version_and_the_next_view_shows_it(django_assert_num_queries):
    admin = make_user("admin")
    client = Client()
    assert "A new paragraph" not in client.get("/side-effects/").content.decode()
    page = Page.objects.get(slug="side-effects")
    page_update(
        actor=admin,
        page=page,
        title=page.title,
        description=page.description,
        body_markdown=page.body_markdown + "\nA new paragraph.\n",
        base_version=1,
    )
    assert "A new paragraph" in client.get("/side-effects/").content.decode()
    page.refresh_from_db()
    assert page.version == 2
    assert list(PageVersion.objects.filter(page=page).values_list("version", flat=True)) == [2, 1]
    event = AuditEvent.objects.get(object_type="website.Page")
    assert event.detail == {"slug": "side-effects", "version": 2, "fields": ["body_markdown"]}
    with django_assert_num_queries(0):
        client.get("/side-effects/")


@pytest.mark.django_db
def test_page_edit_from_a_stale_version_is_a_conflict_not_an_overwrite():
    admin = make_user("admin")
    page = Page.objects.get(slug="contact")
    page_update(
        actor=admin,
        page=page,
        title="Contact",
        description="d",
        body_markdown="First",
        base_version=1,
    )
    with pytest.raises(ValidationError) as exc:
        page_update(
            actor=admin,
            page=page,
            title="Contact",
            description="d",
            body_markdown="Second",
            base_version=1,
        )
    assert "Someone else saved this page" in str(exc.value)
    page.refresh_from_db()
    assert page.body_markdown == "First\n"


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["front_desk", "nurse", "prescriber", "patient"])
def test_only_admins_edit_public_pages(role):
    user = make_user(role)
    page = Page.objects.get(slug="contact")
    with pytest.raises(PermissionDenied):
        page_update(
            actor=user, page=page, title="x", description="x", body_markdown="x", base_version=1
        )
    if role != "patient":
        assert logged_in_client(user).get("/staff/site/contact/").status_code == 403


@pytest.mark.django_db
def test_page_markdown_is_sanitized_on_output():
    admin = make_user("admin")
    page = Page.objects.get(slug="contact")
    page_update(
        actor=admin,
        page=page,
        title="Contact",
        description="d",
        body_markdown=(
            "Hello <script>alert(1)</script> <img src=x onerror=alert(2)>\n\n"
            "[click](javascript:alert(3)) [ok](https://example.org/)"
        ),
        base_version=1,
    )
    html = Client().get("/contact/").content.decode()
    article = html.split("<article", 1)[1].split("</article>", 1)[0]
    assert "<script" not in article
    assert "onerror" not in article
    assert "javascript:" not in article
    assert '<a href="https://example.org/" rel="noopener noreferrer">ok</a>' in article


@pytest.mark.django_db
def test_admin_edits_a_page_through_the_staff_form_with_preview():
    admin = make_user("admin")
    client = logged_in_client(admin)
    assert client.get("/staff/site/").status_code == 200
    page = Page.objects.get(slug="locations")
    data = {
        "title": page.title,
        "description": page.description,
        "body_markdown": "North clinic: **12 Main St**",
        "version": "1",
    }
    preview = client.post("/staff/site/locations/", {**data, "preview": "1"})
    assert "<strong>12 Main St</strong>" in preview.content.decode()
    assert Page.objects.get(slug="locations").version == 1  # preview saves nothing
    response = client.post("/staff/site/locations/", {**data, "save": "1"})
    assert response.status_code == 302
    assert "<strong>12 Main St</strong>" in Client().get("/locations/").content.decode()


@pytest.mark.django_db
def test_sitemap_lists_every_public_page_with_absolute_urls():
    response = Client().get("/sitemap.xml")
    assert response["Content-Type"].startswith("application/xml")
    locs = re.findall(r"<loc>(.*?)</loc>", response.content.decode())
    assert locs == [f"http://127.0.0.1:8000/{p.path}" for p in PUBLIC_PAGES]


@pytest.mark.django_db
def test_robots_txt_keeps_crawlers_out_of_staff_pages_and_names_the_sitemap():
    text = Client().get("/robots.txt").content.decode()
    for path in ("/accounts/", "/staff/", "/patients/", "/api/", "/admin/"):
        assert f"Disallow: {path}" in text
    assert "Sitemap: http://127.0.0.1:8000/sitemap.xml" in text


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/locations/", "/contact/"])
def test_locations_and_contact_pages_list_each_site_and_stay_query_free(
    url, location, django_assert_num_queries
):
    location.address = "12 Harbor St\nBoston, MA"
    location.phone = "617-555-0100"
    location.save()
    client = Client()
    html = client.get(url).content.decode()
    assert "North" in html
    assert "12 Harbor St<br>Boston, MA" in html
    assert 'href="tel:617-555-0100"' in html
    with django_assert_num_queries(0):
        client.get(url)
