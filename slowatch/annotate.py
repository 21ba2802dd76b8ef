"""Annotations as input: the one validation for the API (web/annotations.py) and `slowatch annotate`
(annotate_cli.py).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator

from slowatch.config.messages import Suggest, did_you_mean
from slowatch.config.schema import Config
from slowatch.config.types import Model, Name
from slowatch.store.annotations import Annotation

MAX_TEXT = 2000
LATEST = 253_402_300_799.0  # 9999-12-31T23:59:59Z


class AnnotationError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


class AnnotationIn(Model):
    kind: Literal["deploy", "incident", "note"]
    text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
    consumer: Name | None = None
    consumers: list[Name] = Field(default_factory=list, max_length=100)
    endpoint: Name | None = None
    endpoints: list[Name] = Field(default_factory=list, max_length=1000)
    time: float | str | None = None

    @field_validator("time")
    @classmethod
    def _time(cls, v: float | str | None) -> float | str | None:
        if isinstance(v, str):
            v = parse_time(v)
        if v is not None and (not math.isfinite(v) or not 0 <= v <= LATEST):
            raise ValueError("must be a Unix time from 0 to the end of year 9999")
        return v


def parse_time(text: str) -> float:
    try:  # (ASCII only: `float` also reads other scripts' digits and `1_000`)
        if text.isascii() and "_" not in text:
            return float(text)
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError("not a time: use Unix seconds or ISO 8601, e.g. 2026-12-01T10:00:00Z") from None
    if parsed.tzinfo is None:
        raise ValueError("give an offset, e.g. 2026-12-01T10:00:00Z")
    return parsed.timestamp()


def parse_annotation(config: Config, doc: Any, now: float, source: str, suggest: Suggest = did_you_mean) -> Annotation:
    """`doc` (a JSON object) as an Annotation; AnnotationError naming the field when anything is wrong. The API
    passes a `suggest` bounded for the event loop (`loop_did_you_mean`)."""
    try:
        data = AnnotationIn.model_validate(doc)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "body"
        raise AnnotationError(where, err["msg"].removeprefix("Value error, ")) from None
    consumers = tuple(dict.fromkeys([*([data.consumer] if data.consumer else []), *data.consumers]))
    endpoints = tuple(dict.fromkeys([*([data.endpoint] if data.endpoint else []), *data.endpoints]))
    known_c, known_e = {c.name for c in config.consumers}, {e.name for e in config.endpoints}
    for name in consumers:
        if name not in known_c:
            raise AnnotationError("consumers", f"unknown consumer {name!r}" + suggest(name, known_c))
    for name in endpoints:  # (no suggestion: a search of 100,000 endpoint names would hold the API's loop)
        if name not in known_e:
            raise AnnotationError("endpoints", f"unknown endpoint {name!r}")
    ts = float(data.time) if data.time is not None else now
    return Annotation(ts, data.kind, data.text, consumers, endpoints, source, now)


__all__ = ["LATEST", "AnnotationError", "AnnotationIn", "parse_annotation", "parse_time"]
