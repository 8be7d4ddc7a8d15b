"""Crisis words in a patient's message (issue 18 section 3): the phrases of
`data/crisis_phrases.txt` (a clinic-editable list; the domain documents give none), matched as
whole words after folding case, accents and punctuation. A match shows the patient the crisis
resources (the same partial the check-ins show for PHQ-9 item 9, SCALE-4) and flags the thread
urgent. It is a safety net for a message, never a screening instrument (SCALE-5)."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path

from django.conf import settings

DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "crisis_phrases.txt"


def _fold(text: str) -> str:
    """Lower case, accents off, apostrophes dropped, every other run of non-letters one space."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    plain = re.sub(r"['\u2019`]", "", plain)
    return " " + re.sub(r"[^a-z0-9]+", " ", plain).strip() + " "


@lru_cache(maxsize=4)
def _phrases(path: str) -> tuple[tuple[str, str], ...]:
    """(phrase as written, folded form) for each line of the file."""
    rows: list[tuple[str, str]] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        phrase = line.strip()
        if not phrase or phrase.startswith("#"):
            continue
        folded = _fold(phrase)
        if folded.strip():
            rows.append((phrase, folded))
    return tuple(rows)


def crisis_phrases() -> tuple[tuple[str, str], ...]:
    return _phrases(str(getattr(settings, "MESSAGING_CRISIS_PHRASES_FILE", "") or DEFAULT_PATH))


def crisis_phrases_found(text: str) -> list[str]:
    """The listed phrases this text contains (whole words), in the file's order."""
    folded = _fold(text)
    return [phrase for phrase, key in crisis_phrases() if key in folded]
