"""Field types shared by the config models."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from slowatch.durations import format_duration, parse_duration


class Model(BaseModel):
    """Base of every config model: frozen, and unknown keys are errors (typos must not vanish)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _to_seconds(value: Any) -> Any:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, bool):
        raise ValueError("not a duration (use e.g. 500ms, 15s, 5m, 1h, 30d)")
    if isinstance(value, (int, float)):
        return float(value)
    return value


Duration = Annotated[float, BeforeValidator(_to_seconds), PlainSerializer(format_duration, return_type=str)]
"""Seconds as a float; written in YAML as `500ms`, `15s`, `5m`, `1h`, `30d` (a bare number is seconds)."""


def _duration_at_least(minimum: float) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        seconds = _to_seconds(value)
        if isinstance(seconds, float) and seconds < minimum:
            raise ValueError(f"must be at least {format_duration(minimum)} (got {value!r})")
        return seconds

    return check


Interval = Annotated[float, BeforeValidator(_duration_at_least(1.0)), PlainSerializer(format_duration, return_type=str)]
"""How often a probe runs: a Duration of at least 1s (the message shows the text as written)."""

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]
"""An identifier used in metric labels and URLs: letters, digits, `_ . : -`."""

__all__ = ["Duration", "Interval", "Model", "Name"]
