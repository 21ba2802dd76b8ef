"""Consumer models: who depends on which endpoints (SLOs are added by the SLO layer)."""

from __future__ import annotations

from pydantic import Field

from slowatch.config.types import Model, Name


class ConsumerConfig(Model):
    name: Name
    description: str = ""
    endpoints: list[Name] = Field(default_factory=list)


__all__ = ["ConsumerConfig"]
