"""JSON parsing for the API that refuses NUL characters at the edge.

PostgreSQL text cannot hold NUL (0x00); a string carrying one would fail deep in a query with a
500 (found by the schemathesis run). Refused here, the request answers 400 (ninja reports any
parser refusal as an unparseable body). Query strings: common.middleware.NulCharacterMiddleware."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest
from ninja.errors import ValidationError
from ninja.parser import Parser

MESSAGE = "NUL characters (\\u0000) are not allowed."


def _nul_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, str):
        return [path] if "\x00" in value else []
    if isinstance(value, dict):
        found = [p for k, v in value.items() for p in _nul_paths(v, (*path, k))]
        return found + [(*path, k) for k in value if isinstance(k, str) and "\x00" in k]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _nul_paths(v, (*path, i))]
    return []


class NulRefusingParser(Parser):
    def parse_body(self, request: HttpRequest) -> Any:
        data = json.loads(request.body)
        bad = _nul_paths(data)
        if bad:
            raise ValidationError(
                [{"loc": ("body", "payload", *path), "msg": MESSAGE} for path in bad]
            )
        return data
