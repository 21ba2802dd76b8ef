"""HTTP response checks: status, headers and body assertions (substring, regex, a JSONPath subset).

Each check returns None when it holds, or the on-call message saying what was seen instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from slowatch.config.endpoints import JSON_PATH_STEP, BodyAssertion, HttpExpect
from slowatch.models import Outcome
from slowatch.probes.failures import Failure, show

_STEP = re.compile(JSON_PATH_STEP)
_MISSING = object()
MISSING = _MISSING
"""What `json_path_get` returns for a path that is not in the document."""


def status_matches(spec: int | str, code: int) -> bool:
    if isinstance(spec, int):
        return code == spec
    if spec.endswith("xx"):
        return code // 100 == int(spec[0])
    low, _, high = spec.partition("-")
    return int(low) <= code <= int(high)


def check_status(expect: HttpExpect, code: int) -> str | None:
    if any(status_matches(s, code) for s in expect.status):
        return None
    specs = [str(s) for s in expect.status]
    wanted = specs[0] if len(specs) == 1 else ", ".join(specs[:-1]) + " or " + specs[-1]
    return f"expected status {wanted}, got {code}"


def check_headers(expect: HttpExpect, headers: Mapping[str, str]) -> str | None:
    """`headers` must be case-insensitive (aiohttp's CIMultiDictProxy is)."""
    for name, pattern in expect.headers.items():
        value = headers.get(name)
        if value is None:
            return f"header {name} is missing"
        if not re.search(pattern, value):
            return f"header {name} was {show(value)}, expected /{pattern}/"
    return None


def check_response(
    expect: HttpExpect, status: int, headers: Mapping[str, str], too_large: bool, limit: int
) -> Failure | None:
    """The status, then the headers, then the body's size (`too_large`: over `limit` bytes): the first that
    fails as (outcome, message), None when all hold (the body's assertions are the caller's)."""
    failed = check_status(expect, status)
    if failed is not None:
        return Outcome.HTTP_STATUS, failed
    failed = check_headers(expect, headers)
    if failed is not None:
        return Outcome.ASSERTION_FAILED, failed
    if too_large:
        return Outcome.BODY_TOO_LARGE, f"body larger than max_body_size ({limit} bytes)"
    return None


def json_path_steps(path: str) -> list[str | int]:
    """`$.a.b[0]['c d']` -> ['a', 'b', 0, 'c d']. The syntax was validated with the config."""
    steps: list[str | int] = []
    for token in _STEP.findall(path[1:]):
        if token.startswith("."):
            steps.append(token[1:])
        elif token[1] in "'\"":
            steps.append(token[2:-2])
        else:
            steps.append(int(token[1:-1]))
    return steps


def json_path_get(document: Any, path: str) -> Any:
    """The value at `path`, or `_MISSING`."""
    node = document
    for step in json_path_steps(path):
        if isinstance(step, int):
            if not isinstance(node, list) or not -len(node) <= step < len(node):
                return _MISSING
            node = node[step]
        else:
            if not isinstance(node, dict) or step not in node:
                return _MISSING
            node = node[step]
    return node


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: `true` is not `1`, `1` equals `1.0`."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


class BodyChecker:
    """Runs body assertions against one body; decodes text and parses JSON at most once."""

    def __init__(self, body: bytes, charset: str | None) -> None:
        self._body = body
        self._charset = charset or "utf-8"
        self._text: str | None = None
        self._json: Any = _MISSING
        self._json_error: str | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            try:
                self._text = self._body.decode(self._charset, errors="replace")
            except (LookupError, UnicodeError):  # unknown, not text (rot13), or refusing "replace" (idna)
                self._text = self._body.decode("utf-8", errors="replace")
        return self._text

    def document(self) -> Any:
        if self._json is _MISSING and self._json_error is None:
            try:
                self._json = json.loads(self._body)
            except (ValueError, RecursionError) as exc:
                self._json_error = str(exc).split(":")[0]
        return self._json

    def check(self, assertion: BodyAssertion) -> str | None:
        if assertion.contains is not None:
            if assertion.contains in self.text:
                return None
            return f"body does not contain {show(assertion.contains)}"
        if assertion.regex is not None:
            if re.search(assertion.regex, self.text):
                return None
            return f"body does not match /{assertion.regex}/"
        assert assertion.json_path is not None
        return self._check_json(assertion, assertion.json_path)

    def _check_json(self, assertion: BodyAssertion, path: str) -> str | None:
        document = self.document()
        if self._json_error is not None:
            return f"{path}: body is not JSON ({self._json_error})"
        value = json_path_get(document, path)
        if "equals" in assertion.model_fields_set:
            if value is _MISSING:
                return f"{path} is missing, expected {show(assertion.equals)}"
            if json_equal(value, assertion.equals):
                return None
            return f"{path} was {show(value)}, expected {show(assertion.equals)}"
        wanted = assertion.exists is not False
        if (value is not _MISSING) == wanted:
            return None
        return f"{path} is missing" if wanted else f"{path} exists, expected it absent"


def check_body(assertions: Sequence[BodyAssertion], body: bytes, charset: str | None) -> str | None:
    checker = BodyChecker(body, charset)
    for assertion in assertions:
        failed = checker.check(assertion)
        if failed is not None:
            return failed
    return None


__all__ = [
    "MISSING",
    "BodyChecker",
    "check_body",
    "check_headers",
    "check_response",
    "check_status",
    "json_path_get",
    "status_matches",
]
