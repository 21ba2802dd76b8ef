"""Pydantic's validation messages, rewritten in the plain English an SRE expects in a config error."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any

from pydantic_core import ErrorDetails

_PLAIN = {
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number, not NaN or infinity",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "set_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "datetime_type": "must be a date and time with an offset (e.g. 2026-12-01T22:00:00Z)",
    "datetime_parsing": "must be a date and time with an offset (e.g. 2026-12-01T22:00:00Z)",
    "datetime_from_date_parsing": "must be a date and time with an offset (e.g. 2026-12-01T22:00:00Z)",
    "none_required": "must be empty",
}
_BOUNDS = {
    "greater_than_equal": ("ge", "must be at least {}"),
    "greater_than": ("gt", "must be greater than {}"),
    "less_than_equal": ("le", "must be at most {}"),
    "less_than": ("lt", "must be less than {}"),
    "too_short": ("min_length", "must have at least {} item(s)"),
    "too_long": ("max_length", "must have at most {} item(s)"),
    "string_too_short": ("min_length", "must be at least {} character(s) long"),
    "string_too_long": ("max_length", "must be at most {} character(s) long"),
}
_SHOULD = re.compile(r"^(?:Input|String|List|Dictionary|Value|Tuple|Set|Data|Object) should\b")
_VALUE_ERROR = re.compile(r"^(?:Value error|Assertion failed), ")


LONG_WRITTEN = 100
"""A value shown as written (a number, unquoted) longer than this is shortened like a long quoted one."""


def shown(value: Any, source: str | None) -> str:
    """How a rejected value is quoted: `'0s'`, `11` (as written), `a mapping`, `a list`, `nothing`. A number
    is shown as written, shortened past LONG_WRITTEN characters (`1000…000 (4001 characters)`): a string is
    quoted, and the loader shortens long quoted values in the whole message."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return repr(value)
    written = source if source is not None else repr(value)
    if len(written) > LONG_WRITTEN:
        return f"{written[:40]}…{written[-10:]} ({len(written)} characters)"
    return written


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


Suggest = Callable[[str, Collection[str]], str]
"""`did_you_mean`, or `loop_did_you_mean` on the event loop."""

LOOP_CHOICES = 1_000
"""The most names `loop_did_you_mean` searches: ~15 ms on the event loop at worst (10,000 consumer names of ~23
characters: ~150 ms per request, repeatable by any client with a token)."""


def loop_did_you_mean(word: str, choices: Collection[str]) -> str:
    """`did_you_mean` for code on the event loop (the API): no suggestion among more than LOOP_CHOICES names."""
    return did_you_mean(word, choices) if len(choices) <= LOOP_CHOICES else ""


class Suggester:
    """`did_you_mean` for many unknown names against the same choices, within a budget.

    A search costs ~0.2-0.7 s against 100,000 endpoint names: only the first `limit` distinct unknown
    names get a suggestion, fewer when there are many choices (about 500,000 names compared in all: 5
    searches at 100,000 endpoints), so a file with many typos still loads quickly.
    """

    def __init__(self, choices: Iterable[str], *, limit: int = 20) -> None:
        self.choices = list(choices)
        self.limit = max(1, min(limit, 500_000 // max(1, len(self.choices))))
        self._said: dict[str, str] = {}

    def __call__(self, word: str) -> str:
        if word not in self._said:
            if len(self._said) >= self.limit:
                return ""
            self._said[word] = did_you_mean(word, self.choices)
        return self._said[word]


def describe(error: ErrorDetails, got: str | None, *, fields: Sequence[str] = (), tags: Sequence[str] = ()) -> str:
    """One pydantic error as a message. `got` is the quoted value, or None when it must stay hidden."""
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    suffix = f" (got {got})" if got is not None else ""
    expected = f" (expected one of: {', '.join(tags)})" if tags else ""
    if kind == "missing":
        return "required field missing"
    if kind == "extra_forbidden":
        key = str(error["loc"][-1]) if error["loc"] else "?"
        return f"unknown field {key!r}" + did_you_mean(key, fields)
    if kind == "union_tag_invalid":
        tag = f" {ctx.get('tag')!r}" if got is not None else ""
        return f"unknown kind{tag}{expected}"
    if kind == "union_tag_not_found":
        return "required field missing" + expected
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])
    if kind in _PLAIN:
        return _PLAIN[kind] + suffix
    if kind in _BOUNDS:
        name, template = _BOUNDS[kind]
        if name in ctx:
            return template.format(ctx[name]) + suffix
    if kind == "literal_error" and "expected" in ctx:
        return f"must be {ctx['expected']}" + suffix
    if kind == "string_pattern_mismatch" and "pattern" in ctx:
        return f"must match {ctx['pattern']}" + suffix
    message = _VALUE_ERROR.sub("", error["msg"])
    return _SHOULD.sub("must", message) + suffix


def combine(messages: Sequence[str], got: str | None, mapping: str | None = None) -> str:
    """Errors of each alternative of a union, as the forms it accepts: `must be a string or a mapping with
    labels (got 1)`; a reason the value fails one form is kept (`not a duration: '30 days' (use e.g. ...); also
    accepted: a mapping with calendar ...`). `mapping` names the mapping form's fields."""
    suffix = f" (got {got})" if got is not None else ""
    unique = [m.removesuffix(suffix) if suffix else m for m in dict.fromkeys(messages)]
    if mapping is not None:
        unique = [f"must be {mapping}" if m == "must be a mapping" else m for m in unique]
    if all(m.startswith("must be ") for m in unique):
        return "must be " + " or ".join(m.removeprefix("must be ") for m in unique) + suffix
    reasons = [m for m in unique if not m.startswith("must be ")]
    forms = [m.removeprefix("must be ") for m in unique if m.startswith("must be ")]
    return "; or ".join(reasons) + (f"; also accepted: {' or '.join(forms)}" if forms else "")


__all__ = ["LOOP_CHOICES", "Suggest", "Suggester", "combine", "describe", "did_you_mean", "loop_did_you_mean", "shown"]
