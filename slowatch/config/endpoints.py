"""Endpoint models: what to probe and how. One model per probe kind, discriminated by `kind`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr

from slowatch.config.types import Duration, Model, Name


class EndpointBase(Model):
    """Options common to every kind. `interval` and `timeout` are filled from `defaults` when absent."""

    name: Name
    interval: Duration
    timeout: Duration
    retries: Annotated[int, Field(ge=0, le=10)] = 0
    retry_delay: Duration = 1.0
    labels: dict[str, str] = Field(default_factory=dict)
    enabled: bool = True


class HttpExpect(Model):
    status: list[int] = Field(default_factory=lambda: [200])


class HttpEndpoint(EndpointBase):
    kind: Literal["http"]
    url: str
    method: str = "GET"
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    expect: HttpExpect = Field(default_factory=HttpExpect)


Endpoint = Annotated[HttpEndpoint, Field(discriminator="kind")]

__all__ = ["Endpoint", "EndpointBase", "HttpEndpoint", "HttpExpect"]
