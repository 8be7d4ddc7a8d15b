"""Text for fpdf2's core PDF fonts, which cover Latin-1 only: other characters are
transliterated (e.g. "≥" -> ">=") or, failing that, replaced by "?". Used by every app that
writes a PDF (intake consents, billing receipts, progress reports)."""

from __future__ import annotations

import unicodedata

_REPLACEMENTS = {
    "\u2013": "-",
    "\u2014": "-",
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2022": "-",
    "\u2026": "...",
    "\u2264": "<=",
    "\u2265": ">=",
    "\u00a0": " ",
}


def latin1(text: str) -> str:
    """`text` as the core PDF fonts can print it (Latin-1), transliterated where needed."""
    out = []
    for ch in text:
        ch = _REPLACEMENTS.get(ch, ch)
        try:
            ch.encode("latin-1")
            out.append(ch)
        except UnicodeEncodeError:
            base = unicodedata.normalize("NFKD", ch).encode("latin-1", "ignore").decode("latin-1")
            out.append(base or "?")
    return "".join(out)
