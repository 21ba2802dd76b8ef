"""`kind: icmp`: echo requests (ping) to a host; loss and round-trip time against thresholds."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from slowatch.config.endpoint_base import EndpointBase, Host
from slowatch.config.types import Delay, Timeout


class IcmpEndpoint(EndpointBase):
    """`count` echo requests `spacing` apart, `payload_size` bytes each. Fails when more than `max_loss`
    of them go unanswered, or when the average round trip exceeds `max_rtt`."""

    kind: Literal["icmp"]
    host: Host
    count: Annotated[int, Field(ge=1, le=100)] = 3
    spacing: Annotated[Delay, Field(ge=0.01)] = 0.2
    payload_size: Annotated[int, Field(ge=8, le=65_000)] = 56
    max_loss: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    """A ratio: 0.0 fails on any lost reply, 0.5 when more than half are lost."""
    max_rtt: Timeout | None = None
    family: Literal["auto", "ipv4", "ipv6"] = "auto"

    @model_validator(mode="after")
    def _fits(self) -> IcmpEndpoint:
        if (self.count - 1) * self.spacing >= self.timeout:
            raise ValueError(
                f"{self.count} requests {self.spacing:g}s apart take longer than the timeout ({self.timeout:g}s)"
            )
        return self


__all__ = ["IcmpEndpoint"]
