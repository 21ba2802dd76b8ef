"""Field types shared by the config models."""

from __future__ import annotations

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

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]
"""An identifier used in metric labels and URLs: letters, digits, `_ . : -`."""

__all__ = ["Duration", "Model", "Name"]
