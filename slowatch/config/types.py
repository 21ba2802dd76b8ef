"""Field types shared by the config models: bounded durations, names, HTTP header names and values.

Every duration has a floor and a ceiling that make sense for what it measures (an interval of 10^23
days passes no sanity check a person would make, and is never probed); the bounds are listed in the
README's configuration reference. Every model rejects NaN and infinity in its number fields
(`allow_inf_nan=False`), and the duration types reject them too, however they are written.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, SecretStr

from slowatch.durations import format_duration, parse_duration

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0


class Model(BaseModel):
    """Base of every config model: frozen, unknown keys are errors (typos must not vanish), and no
    number field takes NaN or infinity."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


_parse_duration = lru_cache(maxsize=4096)(parse_duration)
"""Every endpoint repeats the same few durations (`30s`, `5s`): parse each once per process."""


def _to_seconds(value: Any) -> Any:
    if isinstance(value, str):
        return _parse_duration(value)
    if isinstance(value, bool):
        raise ValueError(  # `interval: on`
            "not a duration but true or false (YAML reads on, off, yes and no as such; "
            "use e.g. 500ms, 15s, 5m, 1h, 30d)"
        )
    if isinstance(value, (int, float)):
        return float(value)
    return value


def duration_between(at_least: float, at_most: float, *, exclusive: bool = False) -> BeforeValidator:
    """Parse a duration and check `at_least <= seconds <= at_most` (`at_least < seconds` when
    `exclusive`); the messages speak durations and quote the text as written."""
    floor = f"more than {format_duration(at_least)}" if exclusive else f"at least {format_duration(at_least)}"

    def check(value: Any) -> Any:
        seconds = _to_seconds(value)
        if not isinstance(seconds, float):
            return seconds  # not a number at all: pydantic reports the type
        if not math.isfinite(seconds):
            raise ValueError("must be a finite duration (use e.g. 500ms, 15s, 5m, 1h, 30d)")
        if seconds < at_least or (exclusive and seconds == at_least):
            raise ValueError(f"must be {floor} (got {value!r})")
        if seconds > at_most:
            raise ValueError(f"must be at most {format_duration(at_most)} (got {value!r})")
        return seconds

    return BeforeValidator(check)


AS_TEXT = PlainSerializer(format_duration, return_type=str)
"""Serialize seconds back as `1m30s`."""

Duration = Annotated[float, duration_between(0.0, 400 * DAY), AS_TEXT]
"""Seconds as a float, 0 to 400d; written in YAML as `500ms`, `15s`, `5m`, `1h`, `30d` (a bare number
is seconds). Fields with tighter bounds use the types below or `duration_between` directly."""

Interval = Annotated[float, duration_between(1.0, DAY), AS_TEXT]
"""How often a probe runs: 1s to 1d."""

Timeout = Annotated[float, duration_between(0.0, 5 * MINUTE, exclusive=True), AS_TEXT]
"""How long one attempt may take (a probe, a sink request, a latency threshold): more than 0s, at most 5m."""

Delay = Annotated[float, duration_between(0.0, HOUR), AS_TEXT]
"""A pause before trying again or before sending: 0s to 1h."""

Window = Annotated[float, duration_between(0.0, 400 * DAY, exclusive=True), AS_TEXT]
"""A span of history an SLO or an alert looks at: more than 0s, at most 400d."""

Retention = Annotated[float, duration_between(0.0, 10 * 366 * DAY, exclusive=True), AS_TEXT]
"""How long stored history is kept: more than 0s, at most 3660d (ten years)."""

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]
"""An identifier used in metric labels and URLs: letters, digits, `_ . : -`."""

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_CONTROL_NAMES = {"\r": "a carriage return (CR)", "\n": "a line break (LF)", "\x00": "a NUL character"}


def control_character(text: str) -> str | None:
    """A description of the first control character (other than tab) in `text`, or None."""
    found = _CONTROL.search(text)
    if found is None:
        return None
    char = found.group()
    return _CONTROL_NAMES.get(char, f"the control character {char!r}")


def _header_name(name: str) -> str:
    if not _TOKEN.fullmatch(name):
        raise ValueError(f"not an HTTP header name: {name!r} (letters, digits and !#$%&'*+-.^_`|~ only)")
    return name


def _header_value(value: SecretStr) -> SecretStr:
    found = control_character(value.get_secret_value())
    if found is not None:  # never echo the value: headers carry tokens
        raise ValueError(f"an HTTP header value cannot contain {found} (check the variable it comes from)")
    return value


HeaderName = Annotated[str, AfterValidator(_header_name)]
"""An HTTP header name (an RFC 9110 token): nothing that could end the header line."""

HeaderValue = Annotated[SecretStr, AfterValidator(_header_value)]
"""An HTTP header value, kept secret: no CR, LF, NUL or other control character (tab is fine)."""


def _one_each(headers: dict[str, Any]) -> dict[str, Any]:
    """Header names ignore case (RFC 9110): `Authorization` and `authorization` together are one header twice."""
    seen: dict[str, str] = {}
    for name in headers:
        first = seen.setdefault(name.lower(), name)
        if first != name:
            raise ValueError(f"{first!r} and {name!r} are the same header (header names ignore case): keep one")
    return headers


Headers = Annotated[dict[HeaderName, HeaderValue], AfterValidator(_one_each)]
"""Request headers: each name once, ignoring case."""

ExpectedHeaders = Annotated[dict[HeaderName, str], AfterValidator(_one_each)]


def finite_json(value: Any) -> Any:
    """A JSON-like value (mappings, lists, scalars) without NaN or infinity anywhere in it."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError("must not contain NaN or infinity (JSON has no such numbers)")
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return value


__all__ = [
    "AS_TEXT",
    "DAY",
    "HOUR",
    "MINUTE",
    "Delay",
    "Duration",
    "ExpectedHeaders",
    "HeaderName",
    "HeaderValue",
    "Headers",
    "Interval",
    "Model",
    "Name",
    "Retention",
    "Timeout",
    "Window",
    "control_character",
    "duration_between",
    "finite_json",
]
