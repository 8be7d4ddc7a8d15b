"""Issue 21 point 10: discharge scoring (DIS-1 modified Aldrete, DIS-2 PADSS) in words, and the
warning-sign form's select and note labelled (<label for> naming the right control)."""

from collections import Counter
from html.parser import HTMLParser

from infusionclinic.infusions import rules, services
from tests.factories import logged_in_client

from .factories import GOOD_ALDRETE, GOOD_PADSS, infusing


class _Forms(HTMLParser):
    """Collects ids, labels (for → text) and, per form action, its controls' names and ids."""

    def __init__(self):
        super().__init__()
        self.ids: list[str] = []
        self.labels: dict[str, str] = {}
        self.controls: dict[str, dict[str, str]] = {}
        self._action = ""
        self._label_for: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "form":
            self._action = a.get("action", "")
        if tag in ("select", "input", "textarea") and a.get("name"):
            self.controls.setdefault(self._action, {})[a["name"]] = a.get("id", "")
        if tag == "label" and a.get("for"):
            self._label_for, self._text = a["for"], []

    def handle_data(self, data):
        if self._label_for is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "label" and self._label_for is not None:
            self.labels[self._label_for] = "".join(self._text).strip()
            self._label_for = None


def _recovering(nurse, session):
    infusing(nurse, session)
    services.pump_event_record(
        actor=nurse, session=session, action="stop", stop_reason="patient_request"
    )
    session.refresh_from_db()
    return session


def test_discharge_scales_data_hold_every_dis1_dis2_criterion_with_three_worded_options():
    """DIS-1 and DIS-2: five items of 0-2 each, each option with its words."""
    scales = rules.discharge_scales()
    assert (scales["aldrete"].rule_id, scales["padss"].rule_id) == ("DIS-1", "DIS-2")
    assert tuple(GOOD_ALDRETE) == rules.ALDRETE_ITEMS
    assert tuple(GOOD_PADSS) == rules.PADSS_ITEMS
    for scale in scales.values():
        assert len(scale.items) == 5
        for item in scale.items:
            assert [score for score, _ in item.options] == [2, 1, 0]
            assert all(words.strip() for _, words in item.options)
    spo2 = dict(next(i for i in scales["aldrete"].items if i.id == "spo2").options)
    assert spo2[2] == "SpO2 > 92 % on room air"  # DIS-1, as monitoring.md words it


def test_discharge_scoring_form_shows_criteria_and_options_in_words_issue21_point10(nurse, session):
    """Issue 21 point 10, DIS-1/DIS-2: no raw field names ("Aldrete: spo2", "PADSS: pain
    nausea") and no bare 2/1/0 options on the discharge scoring."""
    _recovering(nurse, session)
    html = logged_in_client(nurse).get(f"/infusions/sessions/{session.pk}/").content.decode()
    assert "Modified Aldrete (DIS-1): Oxygen saturation (SpO2)" in html
    assert "PADSS (DIS-2): Pain, nausea, vomiting" in html
    assert "2 — Moves 4 limbs" in html
    assert "1 — Moderate, treated" in html
    assert "0 — Unresponsive" in html
    assert "Aldrete: spo2" not in html
    assert "PADSS: pain nausea" not in html
    form = html[html.index(f"/infusions/sessions/{session.pk}/score/") :]
    form = form[: form.index("</form>")]
    assert form.count("<option") == 30  # 10 criteria x 3 options, each in words
    for bare in (">2</option>", ">1</option>", ">0</option>"):
        assert bare not in form


def test_recorded_discharge_score_is_shown_criterion_by_criterion_in_words_issue21_point10(
    nurse, session
):
    _recovering(nurse, session)
    services.discharge_score_record(
        actor=nurse,
        session=session,
        aldrete={**GOOD_ALDRETE, "consciousness": 1},
        padss={**GOOD_PADSS, "pain_nausea": 1},
    )
    html = logged_in_client(nurse).get(f"/infusions/sessions/{session.pk}/").content.decode()
    assert "modified Aldrete 9/10, PADSS 9/10" in html
    assert "<td>Consciousness</td><td>1</td><td>Rousable to voice</td>" in html
    assert "<td>Pain, nausea, vomiting</td><td>1</td><td>Moderate, treated</td>" in html


def test_warning_sign_select_and_note_have_their_own_labels_issue21_point10(nurse, session):
    """Issue 21 point 10 (MON-BP-4, MON-X-1 form): the side-effect form on the same page also
    has `code` and `note`; each control's id is unique and its <label for> names it."""
    infusing(nurse, session)
    html = logged_in_client(nurse).get(f"/infusions/sessions/{session.pk}/").content.decode()
    page = _Forms()
    page.feed(html)
    duplicates = [i for i, n in Counter(page.ids).items() if n > 1]
    assert duplicates == []
    symptom = page.controls[f"/infusions/sessions/{session.pk}/symptom/"]
    assert page.labels[symptom["code"]] == "Warning sign *"
    assert page.labels[symptom["note"]] == "Observation"
    effect = page.controls[f"/infusions/sessions/{session.pk}/side-effect/"]
    assert page.labels[effect["code"]].startswith("Side effect")
    assert page.labels[effect["note"]] == "Note"
