"""Instrument definitions are data: one JSON file per instrument under data/instruments/. This
module reads them, checks each with the scoring engine's parser, and stores them as versioned
InstrumentDefinition rows (data migration 0002 and `manage.py load_instruments`).

A definition row never changes once stored: assessments keep the version they were answered
with (SCALE-3). To change an instrument, edit its file, raise "version" and load again."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from .scoring import InstrumentDataError, parse_definition

INSTRUMENT_DIR = Path(__file__).resolve().parent / "data" / "instruments"


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def read_definition_files(directory: Path = INSTRUMENT_DIR) -> list[dict[str, Any]]:
    definitions = []
    codes: set[tuple[str, int]] = set()
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            spec = parse_definition(data)
        except (json.JSONDecodeError, InstrumentDataError, TypeError, AttributeError) as exc:
            raise InstrumentDataError(f"{path.name}: {exc}") from exc
        if (spec.code, spec.version) in codes:
            raise InstrumentDataError(f"{path.name}: {spec.code} v{spec.version} defined twice.")
        codes.add((spec.code, spec.version))
        definitions.append(data)
    return definitions


def instruments_sync(model: Any, directory: Path = INSTRUMENT_DIR) -> list[str]:
    """Store every definition file not stored yet. `model` is InstrumentDefinition (or its
    historical version inside a migration). Returns "CODE vN" for each row created; refuses a
    file whose content changed without a new version."""
    created = []
    for data in read_definition_files(directory):
        text = canonical_json(data)
        digest = hashlib.sha256(text.encode()).hexdigest()
        existing = model.objects.filter(code=data["code"], version=data["version"]).first()
        if existing is not None:
            if existing.sha256 != digest:
                raise InstrumentDataError(
                    f"{data['code']} v{data['version']} changed since it was loaded; "
                    "raise its version instead of editing a version in use."
                )
            continue
        model.objects.create(
            code=data["code"],
            version=data["version"],
            name=data["name"],
            definition=data,
            sha256=digest,
        )
        created.append(f"{data['code']} v{data['version']}")
    return created
