"""`kind: grpc`: the standard health check, `grpc.health.v1.Health/Check`, plain or over TLS."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from slowatch.config.endpoint_base import ByteSize, EndpointBase, Host, Port, TlsClient


class GrpcEndpoint(EndpointBase):
    """`service`: the name asked about (empty: the server as a whole). `tls` absent: plaintext; present
    (even `{}`): TLS, with the options of `kind: http` (`ca_file`, `cert_file`/`key_file` for mTLS)."""

    kind: Literal["grpc"]
    host: Host
    port: Port
    service: Annotated[str, Field(max_length=200)] = ""
    tls: TlsClient | None = None
    server_name: str | None = None
    """The name the certificate must carry (and the `:authority`); default: host."""
    max_message_size: Annotated[ByteSize, Field(le=64 << 20)] = 64 * 1024
    """A larger reply fails the probe (`body_too_large`)."""

    @model_validator(mode="after")
    def _tls(self) -> GrpcEndpoint:
        if self.tls is not None and not self.tls.verify:
            raise ValueError("tls.verify: false is not supported for grpc (grpcio cannot skip verification): "
                             "give the server's CA in tls.ca_file")  # fmt: skip
        if self.tls is None and self.server_name is not None:
            raise ValueError("server_name needs tls")
        if self.tls is not None and self.tls.server_name is not None:
            raise ValueError("tls.server_name: for grpc the name is `server_name`, beside `tls`")
        return self


__all__ = ["GrpcEndpoint"]
