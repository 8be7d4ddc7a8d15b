"""Issue 18 section 1: the patient's portal home — its sections in order, the next appointment's
pre-visit instructions (PRE-4 fasting, PRE-5 escort, PRE-6 no driving, arrive-by), the score
trend with home and clinic scores and the bands, the documents, and who may see it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import override_settings
from django.urls import reverse

from infusionclinic.audit.models import AuditEvent
from infusionclinic.portal import selectors
from tests.factories import logged_in_client, make_user

from .builders import (
    booked,
    course,
    open_checkin,
    paid_visit,
    portal_patient,
    scores,
    signed_consents_with_pdf,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def p(location):
    return portal_patient(location)


def test_a_patient_lands_on_the_portal_home(p):
    response = logged_in_client(p.user).get("/home/", follow=True)
    assert response.redirect_chain[-1][0] == "/my/"
    assert response.status_code == 200


def test_the_home_shows_its_sections_in_the_order_the_issue_gives(p):
    """Issue 18 §1: needs now, next appointment, score trend, messages, documents."""
    home = selectors.portal_home(user=p.user)
    assert [key for key, _ in home.sections] == [
        "needs_now",
        "next_appointment",
        "score_trend",
        "messages",
        "documents",
    ]
    html = logged_in_client(p.user).get("/my/").content.decode()
    positions = [
        html.index(f'id="portal-{key}"')
        for key in ("needs_now", "next_appointment", "score_trend", "messages", "documents")
    ]
    assert positions == sorted(positions)


def test_what_needs_the_patient_now_lists_checkins_intake_and_unsigned_consent(p):
    tc = course(p)
    checkin = open_checkin(tc, days_ago=1)
    home = selectors.portal_home(user=p.user)
    kinds = [need.kind for need in home.needs]
    assert kinds[:3] == ["checkin", "intake", "consent"]
    assert home.needs[0].url == reverse("courses:my_checkin", args=[checkin.pk])
    html = logged_in_client(p.user).get("/my/").content.decode()
    needs = html[html.index('id="portal-needs_now"') : html.index('id="portal-next_appointment"')]
    assert f"/my/check-ins/{checkin.pk}/" in needs
    assert "/my/consent/" in needs
    assert "/my/intake/" in needs


def test_signed_consent_is_no_longer_a_need(p):
    signed_consents_with_pdf(p)
    assert "consent" not in [n.kind for n in selectors.portal_home(user=p.user).needs]


@override_settings(
    SCHEDULING_NPO_SOLIDS_H=6, SCHEDULING_NPO_CLEAR_H=2, PORTAL_ARRIVE_EARLY_MINUTES=15
)
def test_the_next_infusion_shows_fasting_escort_no_driving_and_arrive_by(p):
    """PRE-4 (no solids 6 h, clear liquids until 2 h), PRE-5 (escort), PRE-6 (no driving);
    arrive-by from PORTAL_ARRIVE_EARLY_MINUTES. Times in the location's zone."""
    later = booked(p, starts_in=timedelta(days=9), kind="infusion")
    appointment = booked(p, starts_in=timedelta(days=5), kind="infusion")
    home = selectors.portal_home(user=p.user)
    assert home.next_appointment.appointment == appointment != later
    local = appointment.starts_at.astimezone(p.location.tzinfo)
    html = logged_in_client(p.user).get("/my/").content.decode()
    section = html[html.index('id="portal-next_appointment"') : html.index('id="portal-score')]
    assert f"Arrive by {local - timedelta(minutes=15):%H:%M}" in section
    assert f"No solid food after {local - timedelta(hours=6):%H:%M}" in section
    assert f"until {local - timedelta(hours=2):%H:%M}" in section
    assert "Bring an adult who will take you home" in section
    assert "Do not drive" in section
    # The preparation confirmation (scheduling.safety_confirm) is a need until done.
    assert reverse("scheduling:safety_confirm", args=[appointment.pk]) in html


def test_a_follow_up_has_an_arrive_by_but_no_fasting_or_escort(p):
    booked(p, starts_in=timedelta(days=5))
    instructions = selectors.portal_home(user=p.user).next_appointment.instructions
    assert instructions.arrive_by is not None
    assert instructions.fasting == instructions.escort == instructions.no_driving == ""


def test_the_trend_draws_home_and_clinic_scores_on_one_chart_with_the_bands(p):
    """Issue 18 §1: home (check-in) and in-clinic scores on one chart, bands shaded
    (PHQ-9 bands from its data file, scales.md)."""
    scores(p, clinic=[18, 14], home=[11, 7])
    home = selectors.portal_home(user=p.user)
    (trend,) = home.trends
    assert (trend.code, trend.home_count, trend.clinic_count, trend.latest_total) == (
        "PHQ-9",
        2,
        2,
        7,
    )
    chart = str(trend.chart)
    assert chart.count('class="point clinic"') == 2
    assert chart.count('class="point home_checkin"') == 2
    assert chart.count('class="band"') == 5  # PHQ-9: minimal .. severe
    assert "home check-in" in chart
    assert "in clinic" in chart
    html = logged_in_client(p.user).get("/my/").content.decode()
    section = html[html.index('id="portal-score_trend"') : html.index('id="portal-messages"')]
    assert "<svg" in section
    assert "2 home check-ins and 2 in-clinic scores" in section


def test_the_documents_link_the_access_checked_downloads(p):
    signatures = signed_consents_with_pdf(p)
    invoice, payment = paid_visit(p, days_ago=3)
    home = selectors.portal_home(user=p.user)
    urls = {d.kind: [] for d in home.documents}
    for d in home.documents:
        urls[d.kind].append(d.url)
    assert sorted(urls["consent"]) == sorted(
        reverse("intake:consent_pdf", args=[s.pk]) for s in signatures
    )
    assert urls["receipt"] == [reverse("billing:receipt", args=[payment.pk])]
    assert urls["superbill"] == [reverse("billing:superbill", args=[invoice.pk])]
    client = logged_in_client(p.user)
    for url in [u for group in urls.values() for u in group]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response["Content-Type"] == "application/pdf"


@override_settings(BILLING_ISSUE_SUPERBILLS=False)
def test_no_superbill_link_when_the_clinic_issues_none(p):
    """CODE-PX-R3."""
    paid_visit(p, days_ago=3)
    kinds = {d.kind for d in selectors.portal_home(user=p.user).documents}
    assert kinds == {"receipt"}


def test_another_patients_documents_are_not_listed_and_answer_404(p, location):
    other = portal_patient(location)
    _, payment = paid_visit(other, days_ago=2)
    signed = signed_consents_with_pdf(other)
    assert selectors.portal_home(user=p.user).documents == []
    client = logged_in_client(p.user)
    assert client.get(reverse("billing:receipt", args=[payment.pk])).status_code == 404
    assert client.get(reverse("intake:consent_pdf", args=[signed[0].pk])).status_code == 404


def test_the_messages_section_holds_the_messaging_panel(p):
    """Issue 18 §3 fills the section (messaging/_portal_home_panel.html): a link to write to
    the care team and the emergency numbers."""
    html = logged_in_client(p.user).get("/my/").content.decode()
    section = html[html.index('id="portal-messages"') : html.index('id="portal-documents"')]
    assert "Write to your care team" in section
    assert "988" in section
    assert "911" in section


@pytest.mark.parametrize("role", ["nurse", "prescriber", "front_desk", "admin"])
def test_staff_have_no_portal_home(location, role):
    user = make_user(role, location)
    assert logged_in_client(user).get("/my/").status_code == 404


def test_a_patient_log_in_without_a_chart_gets_404(db):
    user = make_user("patient")
    assert logged_in_client(user).get("/my/").status_code == 404


def test_the_home_read_is_audited_with_what_it_showed(p):
    tc = course(p)
    checkin = open_checkin(tc, days_ago=1)
    appointment = booked(p, starts_in=timedelta(days=4))
    logged_in_client(p.user).get("/my/")
    event = AuditEvent.objects.filter(actor=p.user, detail__page="portal home").get()
    assert event.patient_id == p.patient.pk
    assert event.detail["appointment_ids"] == [appointment.pk]
    assert event.detail["checkin_ids"] == [checkin.pk]


def test_the_home_fits_a_phone_without_sideways_content(p):
    """The chart scales to the screen (viewBox, width 100%); the browser test measures it."""
    scores(p, clinic=[12], home=[9])
    html = logged_in_client(p.user).get("/my/").content.decode()
    assert re.search(r'<svg[^>]+viewBox="0 0 720 280"[^>]+class="progress-chart"', html)


def test_other_patients_scores_never_reach_the_trend(p, location):
    other = portal_patient(location)
    scores(other, clinic=[20], home=[])
    assert selectors.portal_home(user=p.user).trends == []
