"""Share equal sub-models between endpoints after validation, so 100,000 endpoints cost far less memory.

Pydantic builds a fresh `EndpointAlerts`, `TlsClient` and `HttpExpect` (each with its own `__dict__`
and fields-set) for every endpoint, although most endpoints carry identical ones (the `defaults.alerts`
copy, `tls: {}`, `expect: {status: [200]}`). Config models are frozen and never mutated, so equal
instances can be one instance: about 1.5 KB less per HTTP endpoint (benchmarks/README.md).

Only parts whose fields-set nobody reads are shared: an `HttpExpect` with body assertions is left
alone (`BodyAssertion` tells an explicit `equals: null` from an absent one by its fields-set).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from slowatch.config.endpoints import HttpExpect

_SHARED_FIELDS = ("alerts", "tls", "expect", "labels", "headers")
_KEEP = 8  # distinct values remembered per field: most configs have one or two of each


def _shareable(value: Any) -> bool:
    if isinstance(value, HttpExpect):
        return not value.body
    return isinstance(value, BaseModel | dict)


def share_equal_parts(endpoints: list[Any]) -> int:
    """Replace sub-models equal to one already seen by that instance; return how many were replaced."""
    seen: dict[tuple[str, type], list[Any]] = {}
    replaced = 0
    for ep in endpoints:
        for name in _SHARED_FIELDS:
            value = ep.__dict__.get(name)
            if value is None or not _shareable(value):
                continue
            known = seen.setdefault((name, type(value)), [])
            for candidate in known:
                if candidate is value:
                    break
                if candidate == value:
                    object.__setattr__(ep, name, candidate)  # frozen model: same value, shared instance
                    replaced += 1
                    break
            else:
                if len(known) < _KEEP:
                    known.append(value)
    return replaced


__all__ = ["share_equal_parts"]
