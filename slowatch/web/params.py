"""Query parameters of the HTTP API, read one way: every bad value is a 400 whose JSON names the parameter
and what it accepts, never a 500 and never a silently clamped or ignored value. Every route but `/metrics`,
`/healthz` and `/readyz` (read by probes and scrapers that may add their own) and the overview `/` reads its
query through `Query`: the consumer pages, reports, badges, rules and corrections too.

    q = Query(request, "since", "until", "limit")    # any other parameter but `token`: 400, naming the allowed
    since = q.timestamp("since")                     # None when absent
    limit = q.integer("limit", default=100, low=1, high=10_000)

Unknown names (an endpoint or consumer that is not configured) are 404s with the same JSON shape.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable

from aiohttp import web

LATEST_TIMESTAMP = 253_402_300_799.0
"""9999-12-31T23:59:59Z: the largest Unix time a `since`/`until` may name."""

_TRUE, _FALSE = ("1", "true", "yes"), ("0", "false", "no")


def json_error(cls: type[web.HTTPError], message: str, **context: str) -> web.HTTPError:
    """An HTTP error whose body is `{"error": message, ...context}` (JSON)."""
    body = json.dumps({"error": message, **context})
    return cls(text=body, content_type="application/json")


def bad_parameter(name: str, message: str) -> web.HTTPError:
    return json_error(web.HTTPBadRequest, f"{name}: {message}", parameter=name)


def not_found(what: str, name: str, known: Iterable[str]) -> web.HTTPError:
    names = sorted(known)
    shown = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
    return json_error(web.HTTPNotFound, f"no {what} named {name!r} (known: {shown or 'none'})", **{what: name})


TOKEN = "token"
"""Accepted on every path: the access token (`?token=`), which the auth middleware has checked already."""


class Query:
    """The query string of one request, restricted to `allowed` names (and `token`), each given at most once."""

    __slots__ = ("_values",)

    def __init__(self, request: web.Request, *allowed: str) -> None:
        query = request.query
        for key in query:
            if key not in allowed and key != TOKEN:
                accepted = ", ".join(allowed) if allowed else "none"
                raise bad_parameter(key, f"unknown parameter (this path accepts: {accepted})")
            if len(query.getall(key)) > 1:
                raise bad_parameter(key, "given more than once")
        self._values = {key: query[key] for key in query}

    def get(self, name: str) -> str | None:
        return self._values.get(name)

    def number(self, name: str, *, low: float, high: float, meaning: str = "a number") -> float | None:
        """A finite decimal number in [low, high], in ASCII; None when absent."""
        raw = self._values.get(name)
        if raw is None:
            return None
        try:  # (`float` also reads other scripts' digits and `1_000`: ASCII decimals and exponents only)
            value = float(raw) if raw.isascii() and "_" not in raw else math.nan
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or not low <= value <= high:
            raise bad_parameter(name, f"must be {meaning} from {low:.15g} to {high:.15g} (got {_shown(raw)})")
        return value

    def timestamp(self, name: str) -> float | None:
        """A Unix time in seconds (0 to the end of year 9999); None when absent."""
        return self.number(name, low=0.0, high=LATEST_TIMESTAMP, meaning="a Unix time in seconds")

    def integer(self, name: str, *, default: int, low: int, high: int) -> int:
        """A whole number in [low, high]; `default` when absent."""
        raw = self._values.get(name)
        if raw is None:
            return default
        text = raw.strip()
        if not (text.isascii() and text.isdecimal() and len(text) <= 18) or not low <= int(text) <= high:
            raise bad_parameter(name, f"must be a whole number from {low} to {high} (got {_shown(raw)})")
        return int(text)

    def flag(self, name: str, *, default: bool = False) -> bool:
        """`1`/`true`/`yes` or `0`/`false`/`no` (any case); `default` when absent."""
        raw = self._values.get(name)
        if raw is None:
            return default
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise bad_parameter(name, f"must be 1/true/yes or 0/false/no (got {_shown(raw)})")


def _shown(raw: str) -> str:
    """The offending value, quoted and cut short (it is echoed back in the error)."""
    return repr(raw if len(raw) <= 40 else raw[:40] + "...")


__all__ = ["LATEST_TIMESTAMP", "TOKEN", "Query", "bad_parameter", "json_error", "not_found"]
