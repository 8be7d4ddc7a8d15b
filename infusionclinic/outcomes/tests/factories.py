"""Builders for outcomes tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from infusionclinic.outcomes.instruments import read_definition_files
from infusionclinic.outcomes.models import InstrumentDefinition
from infusionclinic.outcomes.scoring import InstrumentSpec, parse_definition


def shipped_specs() -> dict[str, InstrumentSpec]:
    return {d["code"]: parse_definition(d) for d in read_definition_files()}


def answers_for_total(spec: InstrumentSpec, total: int) -> list[int]:
    """Answers that sum to `total`, filling items in order with their highest value."""
    answers = []
    left = total
    for item in spec.items:
        value = max((v for v in item.values if v <= left), default=min(item.values))
        answers.append(value)
        left -= value
    assert left == 0, f"{spec.code} cannot reach {total}"
    return answers


def definition(code: str) -> InstrumentDefinition:
    return InstrumentDefinition.objects.filter(code=code).order_by("-version").first()


def submit(patient, code: str, answers: Sequence[int], completed_at: datetime, actor):  # type: ignore[no-untyped-def]
    from infusionclinic.outcomes.services import assessment_submit

    return assessment_submit(
        actor=actor,
        patient=patient,
        instrument_code=code,
        answers=list(answers),
        completed_at=completed_at,
    )
