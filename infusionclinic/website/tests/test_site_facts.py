"""The corrected medical statements of ../shared/domain/site-facts.md, pinned on the rendered
public pages (SITE-R1 to SITE-R4 and the SITE-n rows they correct)."""

import re

import pytest
from django.test import Client

from infusionclinic.website.pages import PUBLIC_PAGES


@pytest.fixture
def site_text(db) -> dict[str, str]:
    """Each public page's visible article text (tags stripped, whitespace folded), by slug."""
    client = Client()
    texts = {}
    for page in PUBLIC_PAGES:
        html = client.get("/" + page.path).content.decode()
        article = html.split("<article", 1)[1].split("</article>", 1)[0]
        texts[page.slug] = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", article))
    return texts


def _all(site_text: dict[str, str]) -> str:
    return " ".join(site_text.values())


def test_site_r1_the_infused_drug_is_named_racemic_ketamine_never_r_ketamine(site_text):
    # SITE-10: the IV drug is racemic ketamine, an equal mix of S- and R-ketamine.
    assert "racemic ketamine" in site_text["ketamine-therapy"]
    assert "equal mix" in site_text["ketamine-therapy"]
    text = _all(site_text)
    for match in re.finditer(r"R-ketamine", text):
        before = text[max(0, match.start() - 20) : match.start()]
        # Only as the second half of "S-ketamine and R-ketamine" (the racemic mix).
        assert before.endswith("S-ketamine and "), f"R-ketamine used on its own: …{before}"
    assert "Spravato" in site_text["ketamine-therapy"]  # esketamine is the nasal spray
    assert "5 March 2019" in site_text["ketamine-therapy"]


@pytest.mark.parametrize("blocked", [r"non[- ]habit[- ]forming", r"\bcure[sd]?\b", "guarantee"])
def test_site_r2_blocked_words_appear_on_no_page(site_text, blocked):
    # SITE-12 ("non-habit forming" is wrong), SITE-R2 (no "cure", no "guaranteed").
    for slug, text in site_text.items():
        assert not re.search(blocked, text, re.I), f"{blocked!r} on {slug}"


def test_site_13_never_claims_safe_and_effective_without_qualification(site_text):
    """SITE-13: "safe and effective" only with its qualification."""
    text = _all(site_text)
    assert not re.search(r"safe and effective", text, re.I)
    assert "not FDA-approved for these uses" in site_text["ketamine-therapy"]
    assert "long-term benefit and safety are limited" in site_text["ketamine-therapy"]


def test_site_r2_efficacy_claims_are_qualified_and_cited(site_text):
    # SITE-R2, SITE-5: strongest for a single infusion in TRD and CRPS; weaker elsewhere.
    science = site_text["the-science"]
    assert "the evidence is strongest here, for a single IV infusion" in science
    assert "CRPS" in science
    assert "moderate evidence" in science
    assert "PTSD and anxiety" in science
    assert "early" in science
    assert "Fibromyalgia and most other chronic pain: the evidence is weak or absent" in science
    for citation in ("Swainson et al., 2021", "Sanacora et al., 2017", "Cohen et al., 2018"):
        assert citation in science
    # SITE-3: PTSD is studied, not an established or approved treatment.
    assert "not an established or approved treatment" in science


def test_site_7_and_8_mechanism_is_indirect_and_not_fully_known(site_text):
    """SITE-7 (NMDA block, AMPA only indirectly), SITE-8 (no "plasticizes")."""
    science = site_text["the-science"]
    assert "blocks the NMDA receptor" in science
    assert "indirectly" in science
    assert "does not act directly on AMPA receptors" in science
    assert "not yet known" in science
    assert "plasticize" not in _all(site_text).lower()


def test_site_9_onset_within_hours_and_relapse_within_days(site_text):
    """SITE-9."""
    assert "within hours" in site_text["the-science"]
    assert "symptoms often return within days to about a week" in site_text["the-science"]


def test_site_r3_off_label_self_pay_schedule_iii_escort_driving_own_provider(site_text):
    """SITE-R3; SITE-12 (Schedule III, misuse possible)."""
    text = _all(site_text)
    home = site_text["home"]
    # Every one of these is on the home page and repeated where it matters.
    for phrase in ("off-label", "self-pay", "Schedule III", "adult to take you home"):
        assert phrase.lower() in home.lower(), phrase
    assert "must not drive or operate machinery until the next day" in home
    assert "keep your own mental-health provider" in home
    assert "can be misused" in home
    assert "Schedule III controlled substance (since 1999)" in site_text["ketamine-therapy"]
    assert "reduces this risk but does not remove it" in site_text["side-effects"]
    assert text.count("until the next day") >= 3


def test_site_11_and_14_dose_and_schedule_are_stated_as_facts_not_promises(site_text):
    """SITE-11 (dose below an anesthetic dose), SITE-14 (our schedule vs published courses)."""
    therapy, treatment = site_text["ketamine-therapy"], site_text["the-treatment"]
    assert "1 to 4.5 mg per kg" in therapy  # anesthetic dose, for contrast
    assert "0.5 mg per kg, given slowly over about 40 minutes" in therapy
    assert "Our usual schedule starts with one infusion a week for two to three weeks" in treatment
    assert "two or three infusions a week for two to four weeks" in treatment
    assert "evidence for maintenance infusions is limited" in treatment


def test_site_15_and_16_side_effects_are_complete_and_not_all_temporary(site_text):
    """SITE-15 (the trials' common effects added), SITE-16 (not all temporary)."""
    effects = site_text["side-effects"]
    for effect in (
        "headache",
        "dizziness",
        "anxiety",
        "vomiting",
        "double vision",
        "nystagmus",
        "heart rate",
        "dissociation",
        "blurred",
        "muscle twitching",
        "loss of appetite",
    ):
        assert effect in effects, effect
    assert "up to 24 hours" in effects
    assert "Bladder and urinary problems" in effects
    assert "liver injury" in effects
    assert "all temporary" not in effects


def test_site_r4_references_are_full_citations_with_real_links(db):
    """SITE-R4; SITE-17 and SITE-18 (unverified references) are not listed."""
    html = Client().get("/references/").content.decode()
    for doi in (
        "10.1001/jamapsychiatry.2017.0080",  # SAN17
        "10.1097/AAP.0000000000000808",  # COH18
        "10.1177/0706743720970860",  # CANMAT
        "10.1176/appi.ajp.2016.16010037",  # SIN16
    ):
        assert f'href="https://doi.org/{doi}"' in html
    assert 'href="https://pmc.ncbi.nlm.nih.gov/articles/PMC5999402/"' in html  # Zanos & Gould
    # SITE-17 and SITE-18 are unverified and stay off the list.
    assert "WebMD" not in html
    assert "PMC5950671" not in html


def test_site_1_2_4_6_history_off_label_and_treatment_resistance(site_text):
    """SITE-1 (made 1962, human studies 1964, FDA anesthetic 1970), SITE-2 (Vietnam field
    anesthetic), SITE-4 (off-label, insurers usually do not pay; Spravato often covered), SITE-6
    (treatment-resistant: at least two adequate trials; CANMAT third-line)."""
    therapy = site_text["ketamine-therapy"]
    assert "first made in 1962" in therapy
    assert "1964" in therapy
    assert "anesthetic in 1970" in therapy
    assert "Vietnam War" in therapy
    assert "Insurers usually do not pay for off-label ketamine infusions" in therapy
    assert "insurers often cover it" in therapy
    assert "at least two adequate trials of antidepressants" in therapy
    assert "third-line" in therapy
