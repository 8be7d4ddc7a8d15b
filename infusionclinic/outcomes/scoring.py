"""The one scoring engine. Every instrument is data (data/instruments/*.json, see README there);
this module reads a definition, checks answers against it, and computes totals, severity bands,
change from baseline, response, remission and safety alerts. No class per instrument.

Pure functions over plain values: no database, so the rules are tested directly (scales.md)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings


class InstrumentDataError(ValueError):
    """A definition file is malformed; raised when loading, never while a patient answers."""


@dataclass(frozen=True)
class Option:
    value: int
    label: str
    loinc: str = ""  # the LOINC answer code (LA…) of this answer on the LOINC form, if known


_LOINC_CODE = re.compile(r"^[0-9]{1,7}-[0-9]$")
_LOINC_ANSWER = re.compile(r"^LA[0-9]{1,7}-[0-9]$")


def _loinc_code(raw: Mapping[str, Any], pattern: re.Pattern[str], where: str) -> str:
    code = raw.get("loinc", "")
    if code and (not isinstance(code, str) or not pattern.match(code)):
        raise InstrumentDataError(f"{where}: {code!r} is not a LOINC code of that kind.")
    return str(code)


@dataclass(frozen=True)
class Item:
    number: int
    label: str
    text: str  # the official wording, only where the licence allows it (scales.md); else ""
    options: tuple[Option, ...]
    loinc: str = ""  # the item's LOINC code on the instrument's LOINC form (its linkId), if known

    @property
    def values(self) -> frozenset[int]:
        return frozenset(o.value for o in self.options)


@dataclass(frozen=True)
class Band:
    min: int
    max: int
    label: str


@dataclass(frozen=True)
class Threshold:
    """A number from the definition, or the name of a Django setting with its default (values
    marked unverified in scales.md are settings a clinic can change without editing data)."""

    value: int | None = None
    setting: str = ""
    default: int | None = None

    def resolve(self) -> int:
        if self.setting:
            return int(getattr(settings, self.setting, self.default))
        assert self.value is not None  # noqa: S101 - guaranteed by _threshold()
        return self.value


@dataclass(frozen=True)
class ChangeRule:
    kind: str  # percent_reduction | point_reduction | total_below
    threshold: Threshold
    label: str = ""


@dataclass(frozen=True)
class AlertRule:
    rule_id: str
    item: int
    min_value: int
    level: str
    message: str


@dataclass(frozen=True)
class Subscale:
    code: str
    label: str
    items: tuple[int, ...]


@dataclass(frozen=True)
class InstrumentSpec:
    code: str
    version: int
    name: str
    items: tuple[Item, ...]
    bands: tuple[Band, ...]
    total_min: int
    total_max: int
    response: ChangeRule | None
    remission: ChangeRule | None
    alerts: tuple[AlertRule, ...]
    subscales: tuple[Subscale, ...] = ()
    flags: tuple[ChangeRule, ...] = ()
    instructions: str = ""
    recall: str = ""
    portal: bool = True
    embed_item_text: bool = False
    licence_note: str = ""
    attribution: str = ""
    item_text_note: str = ""
    loinc: Mapping[str, Any] = field(default_factory=dict)

    def band_for(self, total: int) -> Band | None:
        for band in self.bands:
            if band.min <= total <= band.max:
                return band
        return None


# --- Reading a definition -----------------------------------------------------------------------

CHANGE_KINDS = {"percent_reduction", "point_reduction", "total_below", "total_at_most"}


def _need(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in data:
        raise InstrumentDataError(f"{where}: '{key}' is missing.")
    value = data[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise InstrumentDataError(f"{where}: '{key}' has the wrong type.")
    return value


def _threshold(data: Mapping[str, Any], where: str) -> Threshold:
    if "setting" in data:
        return Threshold(
            setting=_need(data, "setting", str, where), default=_need(data, "default", int, where)
        )
    return Threshold(value=_need(data, "value", int, where))


def _change_rule(data: Mapping[str, Any] | None, where: str) -> ChangeRule | None:
    if data is None:
        return None
    kind = _need(data, "kind", str, where)
    if kind not in CHANGE_KINDS:
        raise InstrumentDataError(f"{where}: kind '{kind}' is not one of {sorted(CHANGE_KINDS)}.")
    threshold = _threshold(_need(data, "threshold", dict, where), where)
    return ChangeRule(kind=kind, threshold=threshold, label=str(data.get("label", "")))


def _options(raw: Sequence[Any], where: str) -> tuple[Option, ...]:
    options = tuple(
        Option(
            value=_need(o, "value", int, where),
            label=_need(o, "label", str, where),
            loinc=_loinc_code(o, _LOINC_ANSWER, where),
        )
        for o in raw
    )
    values = [o.value for o in options]
    if not options or len(set(values)) != len(values):
        raise InstrumentDataError(f"{where}: options must be non-empty with distinct values.")
    return options


def parse_definition(data: Mapping[str, Any]) -> InstrumentSpec:
    """Check a definition and turn it into an InstrumentSpec. Raises InstrumentDataError naming
    what is wrong, so a clinic adding an instrument learns it at load time."""
    code = _need(data, "code", str, "definition")
    where = f"{code}"
    version = _need(data, "version", int, where)
    default_options = (
        _options(data.get("options", []), f"{where} options") if data.get("options") else ()
    )
    licence = _need(data, "licence", dict, where)
    embed = bool(licence.get("embed_item_text", False))
    items = []
    for index, raw in enumerate(_need(data, "items", list, where), start=1):
        item_where = f"{where} item {index}"
        number = _need(raw, "number", int, item_where)
        if number != index:
            raise InstrumentDataError(f"{item_where}: items must be numbered 1, 2, 3 in order.")
        text = str(raw.get("text", ""))
        if text and not embed:
            # scales.md: item wording only where the licence row allows it.
            raise InstrumentDataError(f"{item_where}: item text given but the licence forbids it.")
        options = _options(raw["options"], item_where) if "options" in raw else default_options
        if not options:
            raise InstrumentDataError(f"{item_where}: no answer options.")
        items.append(
            Item(
                number,
                _need(raw, "label", str, item_where),
                text,
                options,
                loinc=_loinc_code(raw, _LOINC_CODE, item_where),
            )
        )
    if not items:
        raise InstrumentDataError(f"{where}: an instrument needs at least one item.")

    scoring = _need(data, "scoring", dict, where)
    if scoring.get("method") != "sum":
        raise InstrumentDataError(f"{where}: scoring method must be 'sum'.")
    total_min = sum(min(o.value for o in i.options) for i in items)
    total_max = sum(max(o.value for o in i.options) for i in items)
    if (scoring.get("min"), scoring.get("max")) != (total_min, total_max):
        raise InstrumentDataError(
            f"{where}: scoring min/max must be {total_min}/{total_max}, the sums of the options."
        )

    bands = tuple(
        Band(
            _need(b, "min", int, where), _need(b, "max", int, where), _need(b, "label", str, where)
        )
        for b in data.get("bands", [])
    )
    if bands:
        # Bands must tile the whole range: every possible total has exactly one band.
        expected = total_min
        for band in bands:
            if band.min != expected or band.max < band.min:
                raise InstrumentDataError(f"{where}: bands must cover {total_min}-{total_max}.")
            expected = band.max + 1
        if expected != total_max + 1:
            raise InstrumentDataError(f"{where}: bands must cover {total_min}-{total_max}.")

    numbers = {i.number for i in items}
    alerts = []
    for raw in data.get("alerts", []):
        alert = AlertRule(
            rule_id=_need(raw, "rule_id", str, where),
            item=_need(raw, "item", int, where),
            min_value=_need(raw, "min_value", int, where),
            level=_need(raw, "level", str, where),
            message=_need(raw, "message", str, where),
        )
        if alert.item not in numbers:
            raise InstrumentDataError(f"{where}: alert {alert.rule_id} names no item.")
        alerts.append(alert)
    subscales = tuple(
        Subscale(
            _need(s, "code", str, where),
            _need(s, "label", str, where),
            tuple(_need(s, "items", list, where)),
        )
        for s in data.get("subscales", [])
    )
    for sub in subscales:
        if not set(sub.items) <= numbers:
            raise InstrumentDataError(f"{where}: subscale {sub.code} names unknown items.")
    loinc = data.get("loinc", {})
    return InstrumentSpec(
        code=code,
        version=version,
        name=_need(data, "name", str, where),
        items=tuple(items),
        bands=bands,
        total_min=total_min,
        total_max=total_max,
        response=_change_rule(data.get("response"), f"{where} response"),
        remission=_change_rule(data.get("remission"), f"{where} remission"),
        alerts=tuple(alerts),
        subscales=subscales,
        flags=tuple(
            r for r in (_change_rule(f, f"{where} flag") for f in data.get("flags", [])) if r
        ),
        instructions=str(data.get("instructions", "")),
        recall=str(data.get("recall", "")),
        portal=bool(data.get("portal", True)),
        embed_item_text=embed,
        licence_note=str(licence.get("note", "")),
        attribution=str(licence.get("attribution", "")),
        item_text_note=str(data.get("item_text_note", "")),
        loinc=loinc if isinstance(loinc, dict) else {},
    )


# --- Answers ------------------------------------------------------------------------------------


def answer_errors(
    spec: InstrumentSpec, answers: Sequence[int | None], *, complete: bool
) -> dict[str, list[str]]:
    """Per-item problems, keyed "answers" (the count) or "answers.<item number>", each message
    naming the item. `complete` demands every item answered (SCALE-1); a draft may have gaps."""
    errors: dict[str, list[str]] = {}
    count = len(spec.items)
    if len(answers) != count:
        missing = ", ".join(str(n) for n in range(len(answers) + 1, count + 1))
        detail = f" (item {missing} missing)" if len(answers) < count else ""
        errors["answers"] = [
            f"{spec.code} has {count} items; {len(answers)} answers were sent{detail}."
        ]
        return errors
    for item, value in zip(spec.items, answers, strict=True):
        key = f"answers.{item.number}"
        if value is None:
            if complete:
                errors[key] = [f"Item {item.number} is not answered (every item is required)."]
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value not in item.values:
            allowed = ", ".join(str(v) for v in sorted(item.values))
            errors[key] = [f"Item {item.number}: {value!r} is not one of the answers ({allowed})."]
    return errors


@dataclass(frozen=True)
class Score:
    total: int
    band: Band | None
    subscales: dict[str, int]


def score(spec: InstrumentSpec, answers: Sequence[int]) -> Score:
    """SCALE-1: only complete, valid answers are scored (no imputation); callers check first."""
    if answer_errors(spec, answers, complete=True):
        raise ValueError("score() needs a complete, valid set of answers")
    total = sum(answers)
    by_number = dict(zip((i.number for i in spec.items), answers, strict=True))
    subscales = {s.code: sum(by_number[n] for n in s.items) for s in spec.subscales}
    return Score(total=total, band=spec.band_for(total), subscales=subscales)


def triggered_alerts(spec: InstrumentSpec, answers: Sequence[int | None]) -> list[AlertRule]:
    """Alert rules whose item was answered at or above their value (SCALE-4 for PHQ-9 item 9).
    Runs on partial answers too: a draft never raises, but the caller decides that."""
    found = []
    for rule in spec.alerts:
        value = answers[rule.item - 1] if rule.item - 1 < len(answers) else None
        if value is not None and value >= rule.min_value:
            found.append(rule)
    return found


# --- Change from baseline -----------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    change_from_baseline: int  # baseline - current: positive = better (SCALE-2)
    percent_change: float | None  # (baseline - current) / baseline x 100, 1 decimal; None if 0
    response: bool | None  # None where not defined yet (this is the baseline, or baseline 0)
    remission: bool | None  # None where the instrument defines no remission
    flags: tuple[str, ...] = ()


def _meets(rule: ChangeRule, *, baseline: int | None, current: int) -> bool | None:
    threshold = rule.threshold.resolve()
    if rule.kind == "total_below":
        return current < threshold
    if rule.kind == "total_at_most":
        return current <= threshold
    if baseline is None:
        return None
    if rule.kind == "point_reduction":
        return baseline - current >= threshold
    # percent_reduction, compared in integers so 50 % is exactly 50 % (SCALE-2)
    if baseline == 0:
        return None
    return (baseline - current) * 100 >= threshold * baseline


def outcome(spec: InstrumentSpec, *, baseline_total: int, total: int, is_baseline: bool) -> Outcome:
    """Change, response and remission of `total` against the baseline total. The baseline itself
    has change 0 and response None ("not defined yet"); so has a later response when the baseline
    total is 0 and the rule is a percentage (SCALE-2 divides by the baseline)."""
    change = baseline_total - total
    percent = round(change / baseline_total * 100, 1) if baseline_total else None
    compare_to = None if is_baseline else baseline_total
    response = _meets(spec.response, baseline=compare_to, current=total) if spec.response else None
    remission = (
        _meets(spec.remission, baseline=compare_to, current=total) if spec.remission else None
    )
    flags = tuple(
        rule.label for rule in spec.flags if _meets(rule, baseline=compare_to, current=total)
    )
    return Outcome(change, percent, response, remission, flags)
