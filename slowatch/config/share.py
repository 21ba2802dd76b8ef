"""Share equal sub-models between endpoints after validation, so 100,000 endpoints cost far less memory.

Pydantic builds a fresh `EndpointAlerts`, `TlsClient` and `HttpExpect` (each with its own `__dict__`
and fields-set) for every endpoint, although most endpoints carry identical ones (the `defaults.alerts`
copy, `tls: {}`, `expect: {status: [200]}`). Config models are frozen and never mutated, so equal
instances can be one instance: about 1.5 KB less per HTTP endpoint (benchmarks/README.md).

Only parts whose fields-set nobody reads are shared: an `HttpExpect` with body assertions is left
alone (`BodyAssertion` tells an explicit `equals: null` from an absent one by its fields-set).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel

from slowatch.config.endpoints import HttpExpect

_SHARED_FIELDS = ("alerts", "tls", "expect", "labels", "headers")
_KEEP = 8  # distinct sub-models remembered per field: most configs have one or two of each


def _shareable(value: Any) -> bool:
    if isinstance(value, HttpExpect):
        return not value.body
    return isinstance(value, BaseModel | dict)


def _dict_key(value: dict[Any, Any]) -> tuple[Any, ...] | None:
    """A hashable key for a small dict of hashable values (labels, headers), else None."""
    if len(value) > 32:
        return None
    try:
        key = tuple(value.items())
        hash(key)
    except TypeError:
        return None
    return key


KEPT = 1 << 16
"""Distinct dicts, fields-sets and scalars an Interner keeps at most; past that it starts afresh (they were
of endpoints long gone, or the config has that many distinct ones and sharing buys little)."""
PRUNE_FROM = 64
"""`Interner.prune` looks for dicts and sub-models no endpoint holds once they are at least this many, and twice as
many as its last pruning kept."""


class Interner:
    """The equal parts seen so far. `share_equal_parts` makes a fresh one per call by default; one kept by the
    caller shares with the endpoints of its earlier calls too: the Unpacker (config/parts.py) across a Config's
    parts and reloads, a prober worker across the chunks and changes of its shard (each pickled apart, so
    each arrives with its own copies)."""

    def __init__(self) -> None:
        self.replaced = 0
        self.models: dict[tuple[str, type], list[Any]] = {}
        self.dicts: dict[tuple[str, tuple[Any, ...]], dict[Any, Any]] = {}
        self.fields_sets: dict[frozenset[str], set[str]] = {}
        self.scalars: dict[tuple[type, Any], Any] = {}
        self._kept = 0  # dicts and sub-models the last pruning kept

    def prune(self, in_use: Iterable[Any]) -> int:
        """After a reload: forget the label/header dicts and sub-models that none of `in_use` (the endpoints still
        held: a lazy iterable, read only when pruning) holds any more; return how many. It looks once they are
        twice as many as the last pruning kept (at least PRUNE_FROM), so a reload costs O(endpoints) only now and
        then. Without it, each reload that rotated a `${TOKEN}` in `headers` kept one more dict per distinct
        header set, secrets included, until KEPT (a prober worker: +51 dicts a reload with one token per team of
        50; benchmarks/README.md, session 15)."""
        held = len(self.dicts) + sum(len(known) for known in self.models.values())
        if held < max(PRUNE_FROM, 2 * self._kept):
            return 0
        used = {id(v) for ep in in_use for name in _SHARED_FIELDS if (v := ep.__dict__.get(name)) is not None}
        self.dicts = {key: value for key, value in self.dicts.items() if id(value) in used}
        self.models = {key: [m for m in known if id(m) in used] for key, known in self.models.items()}
        self._kept = len(self.dicts) + sum(len(known) for known in self.models.values())
        return held - self._kept

    def forget(self) -> None:
        """Start afresh (the instances shared so far stay shared)."""
        self.models, self.dicts, self.fields_sets, self.scalars = {}, {}, {}, {}

    @property
    def size(self) -> int:
        return len(self.dicts) + len(self.fields_sets) + len(self.scalars)

    def value(self, name: str, value: Any) -> Any:
        if isinstance(value, dict):
            key = _dict_key(value)
            if key is not None:
                return self.dicts.setdefault((name, key), value)
        known = self.models.setdefault((name, type(value)), [])
        for candidate in known:
            if candidate is value or candidate == value:
                return candidate
        if len(known) < _KEEP:
            known.append(value)
        return value

    def fields_set(self, model: BaseModel) -> None:
        """Pydantic keeps a set of the fields given explicitly per instance (~200-700 B); frozen models never
        change it, so equal sets can be one set."""
        current = model.__pydantic_fields_set__
        shared = self.fields_sets.setdefault(frozenset(current), current)
        if shared is not current:
            object.__setattr__(model, "__pydantic_fields_set__", shared)


_SCALARS = ("interval", "timeout", "retry_delay", "max_body_size", "max_message_size", "retries", "port")
_LISTS = ("depends_on",)


def share_scalars(endpoints: Sequence[Any], table: dict[tuple[type, Any], Any] | None = None) -> None:
    """Make equal durations and sizes one float/int object and every empty `depends_on` one list.

    Each endpoint otherwise holds its own `interval`, `timeout` and `retry_delay` floats and an empty list
    (~150 B per endpoint). Pickle does not keep floats shared, so this also runs after the compiled config
    cache is read and in each prober worker once its shard arrived (cheap: a few dict lookups per endpoint).
    `table` (kept by the caller) shares them with the endpoints of earlier calls too (config/parts.py).
    """
    scalars: dict[tuple[type, Any], Any] = {} if table is None else table
    empty: dict[str, list[Any]] = {}
    for ep in endpoints:
        values = ep.__dict__
        for name in _SCALARS:
            value = values.get(name)
            if type(value) is float or type(value) is int:
                shared = scalars.setdefault((type(value), value), value)
                if shared is not value:
                    values[name] = shared  # frozen model: the same value, a shared object
        for name in _LISTS:
            value = values.get(name)
            if type(value) is list and not value:
                values[name] = empty.setdefault(name, value)


def share_equal_parts(endpoints: Sequence[Any], interner: Interner | None = None) -> int:
    """Replace sub-models, label/header dicts, fields-sets and scalars equal to ones already seen (by this call,
    or by `interner`'s earlier ones) by those instances; return how many sub-models and dicts were replaced."""
    if interner is None:
        interner = Interner()
    elif interner.size > KEPT:
        interner.forget()
    before = interner.replaced
    # An instance met again (endpoints unpickled together share theirs) is looked up by identity, not compared
    # again (pydantic's == costs ~1 µs): 0.8 -> 0.2 s for a worker's 100,000 endpoints in 50 chunks. The memo
    # holds each instance met, so no id is reused while it lives.
    memo: dict[tuple[str, int], tuple[Any, Any]] = {}
    for ep in endpoints:
        interner.fields_set(ep)
        for name in _SHARED_FIELDS:
            value = ep.__dict__.get(name)
            if value is None:
                continue
            met = memo.get((name, id(value)))
            if met is not None:
                shared = met[1]
            elif not _shareable(value):
                continue
            else:
                shared = interner.value(name, value)
                memo[name, id(value)] = (value, shared)
                if shared is value and isinstance(value, BaseModel):
                    interner.fields_set(value)
            if shared is not value:
                object.__setattr__(ep, name, shared)  # frozen model: same value, shared instance
                interner.replaced += 1
    share_scalars(endpoints, interner.scalars)
    return interner.replaced - before


__all__ = ["KEPT", "PRUNE_FROM", "Interner", "share_equal_parts", "share_scalars"]
