"""The public page's fact-check (site-facts.md) applied to every edit: wording the fact-check found
wrong is refused with the wording to use instead (SITE-8, SITE-12, SITE-13, SITE-R1, SITE-R2), and
the statements the site must make (SITE-R3) cannot be edited away from the last page carrying
them. The rules are data: `data/fact_check.json`."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any


@cache
def _rules() -> dict[str, Any]:
    return json.loads((Path(__file__).parent / "data" / "fact_check.json").read_text())


def plain(markdown: str) -> str:
    """The words a reader sees: emphasis marks and line breaks do not split a phrase."""
    return re.sub(r"\s+", " ", re.sub(r"[*_`]", "", markdown))


def blocked_wording(markdown: str) -> list[str]:
    """One message per blocked phrase the text uses, naming its rule and what to say instead."""
    text = plain(markdown)
    problems = []
    for rule in _rules()["blocked"]:
        match = re.search(rule["pattern"], text, re.IGNORECASE)
        if match:
            problems.append(
                f"“{match.group(0)}” is not allowed ({rule['id']}, site-facts.md). "
                f"Use instead: {rule['instead']}"
            )
    return problems


def missing_statements(texts: Iterable[str]) -> list[str]:
    """SITE-R3: the required statements that none of the given page texts carries."""
    site = " ".join(plain(t) for t in texts).lower()
    return [
        f"The site must state {rule['what']} ({rule['id']}); no page would say it after this edit."
        for rule in _rules()["required"]
        if rule["pattern"].lower() not in site
    ]
