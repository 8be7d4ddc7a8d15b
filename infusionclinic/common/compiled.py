"""A hot read's SQL compiled once per process and run again with new values (issue 20 §3).

Django compiles every queryset to SQL on every request: for the access-scoped look-up a monitor
makes before each reading (the visible-patients and staff-locations subqueries) that was a third
of the request's CPU. `CompiledLookup` builds the queryset through the same selector the ORM path
uses, once per `shape` (what changes the SQL: the role, say), with sentinel values for its
inputs; the sentinels' positions among the compiled parameters become slots, filled on each call
with the caller's values. So the SQL is the selector's own, never a hand-written copy of the rule.

It refuses (and the caller falls back to the ORM) a queryset whose two compilations, with two
different sets of sentinels, differ anywhere but in the slots: a value it cannot place would be
baked into the SQL for every later caller. What the builder may read of its inputs is the
caller's contract (e.g. "only the user's pk, role and active flag"): a test compares, for real
inputs, the compiled SQL and parameters with the ORM's own (`sql_with_params`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import UTC, datetime
from typing import Any

from django.db import connections, models
from django.db.models import QuerySet

# Two sentinel sets: values no real input takes (negative ids, the first years of the calendar).
_INT_PROBES = tuple(range(-7_311_000_001, -7_311_000_009, -1))
_DT_PROBES = (
    datetime(1901, 2, 3, 4, 5, 6, 7, tzinfo=UTC),
    datetime(1902, 3, 4, 5, 6, 7, 8, tzinfo=UTC),
)


class _Compiled:
    def __init__(
        self,
        sql: str,
        slots: list[tuple[str | None, Any, Any]],
        attnames: list[str],
        converters: list[tuple[int, list[Callable[..., Any]], Any]],
    ) -> None:
        self.sql, self.slots, self.attnames, self.converters = sql, slots, attnames, converters


class CompiledLookup:
    """`lookup.first(alias, shape, **values)`: the first row of `build(shape=…, **values)` as a
    `model` instance (only the model's own columns: no select_related, annotations or deferred
    fields), or None. `lookup.rows(…)`: every row of a `values_list()` queryset, as tuples.
    `values` are ints (ids) or one aware datetime; `shape` (hashable) keys the cache with what
    else the builder's SQL depends on."""

    def __init__(
        self, build: Callable[..., QuerySet[Any]], *, model: type[models.Model] | None = None
    ) -> None:
        self.model, self.build = model, build
        self._cache: dict[tuple[str, Hashable], _Compiled | None] = {}

    def _compiled(self, alias: str, shape: Hashable, values: dict[str, Any]) -> _Compiled | None:
        key = (alias, shape)
        try:
            return self._cache[key]
        except KeyError:
            compiled = self._cache[key] = self._compile(alias, shape, values)
            return compiled

    def _fetch(self, alias: str, compiled: _Compiled, values: dict[str, Any], one: bool) -> list:
        connection = connections[alias]
        params = [c if n is None else a(values[n]) for n, c, a in compiled.slots]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            fetched = [cursor.fetchone()] if one else cursor.fetchall()
        rows = []
        for row in fetched:
            if row is None:
                continue
            row = list(row)
            for pos, convs, expression in compiled.converters:
                for converter in convs:
                    row[pos] = converter(row[pos], expression, connection)
            rows.append(row)
        return rows

    def first(self, alias: str, shape: Hashable, **values: Any) -> models.Model | None:
        assert self.model is not None, "first() needs the model"  # noqa: S101 - wiring
        compiled = self._compiled(alias, shape, values)
        if compiled is None:  # not compilable ahead: the ORM path
            return self.build(shape=shape, **values).using(alias).first()
        rows = self._fetch(alias, compiled, values, one=True)
        return self.model.from_db(alias, compiled.attnames, rows[0]) if rows else None

    def rows(self, alias: str, shape: Hashable, **values: Any) -> list[tuple[Any, ...]]:
        compiled = self._compiled(alias, shape, values)
        if compiled is None:
            return list(self.build(shape=shape, **values).using(alias))
        return [tuple(row) for row in self._fetch(alias, compiled, values, one=False)]

    def sql_with_params(
        self, alias: str, shape: Hashable, **values: Any
    ) -> tuple[str, list[Any]] | None:
        """What is sent for these values (None when the ORM is used instead): for tests, which
        compare it with the ORM's own `qs.query.sql_with_params()`."""
        compiled = self._compiled(alias, shape, values)
        if compiled is None:
            return None
        return compiled.sql, [c if n is None else a(values[n]) for n, c, a in compiled.slots]

    def _compile(self, alias: str, shape: Hashable, values: dict[str, Any]) -> _Compiled | None:
        connection = connections[alias]
        names = list(values)
        probes: list[dict[str, Any]] = [{}, {}]
        ints = iter(_INT_PROBES)
        kinds: dict[str, str] = {}
        for name, value in values.items():
            if isinstance(value, datetime):
                if sum(kind == "dt" for kind in kinds.values()):
                    return None  # one datetime input at most: the probes would coincide
                kinds[name] = "dt"
                probes[0][name], probes[1][name] = _DT_PROBES
            elif isinstance(value, int) and not isinstance(value, bool):
                kinds[name] = "int"
                probes[0][name], probes[1][name] = next(ints), next(ints)
            else:
                return None
        compiled = []
        for probe in probes:
            qs = self.build(shape=shape, **probe).using(alias)
            if self.model is not None:
                if qs.query.select_related or qs.query.annotations or qs.query.deferred_loading[0]:
                    return None
                qs = qs[:1]
            compiler = qs.query.get_compiler(using=alias)
            try:
                sql, params = compiler.as_sql()
            except Exception:  # an empty queryset (EmptyResultSet) and the like: the ORM's way
                return None
            compiled.append((sql, list(params), compiler))
        (sql0, params0, compiler0), (sql1, params1, _) = compiled
        if sql0 != sql1 or len(params0) != len(params1):
            return None

        def adapter(name: str) -> Callable[[Any], Any]:
            if kinds[name] == "dt":
                return connection.ops.adapt_datetimefield_value
            return lambda value: value

        slots: list[tuple[str | None, Any, Any]] = []
        for first, second in zip(params0, params1, strict=True):
            if first == second:
                slots.append((None, first, None))
                continue
            match = [
                name
                for name in names
                if adapter(name)(probes[0][name]) == first
                and adapter(name)(probes[1][name]) == second
            ]
            if len(match) != 1:
                return None
            slots.append((match[0], None, adapter(match[0])))
        select = compiler0.select
        attnames = []
        for col, _sql, _alias in select if self.model is not None else ():
            target = getattr(col, "target", None)
            if target is None or target.model is not self.model._meta.concrete_model:
                return None
            attnames.append(target.attname)
        converters = [
            (pos, convs, expression)
            for pos, (convs, expression) in compiler0.get_converters(
                [col for col, _sql, _alias in select]
            ).items()
        ]
        return _Compiled(sql0, slots, attnames, converters)
