"""A real gRPC server for probe tests: grpc.aio with the standard health servicer, on a free loopback port."""

from __future__ import annotations

from typing import Any

import grpc
import grpc.aio
from grpc_health.v1 import _async as health_async
from grpc_health.v1 import health_pb2, health_pb2_grpc

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class GrpcTarget:
    """`await GrpcTarget().start()`; `set(service, status)`; `port`; `await close()`.

    `huge=N` serves instead a Health/Check whose reply carries N bytes (an unknown field: valid protobuf)."""

    def __init__(self, *, tls: tuple[bytes, bytes] | None = None, huge: int = 0) -> None:
        self.server = grpc.aio.server()
        self.health = health_async.HealthServicer()
        if huge:
            reply = health_pb2.HealthCheckResponse(status=SERVING).SerializeToString()
            reply += b"\x7a" + _varint(huge) + b"x" * huge  # field 15, length-delimited

            async def check(request: bytes, context: Any) -> bytes:
                return reply

            handler = grpc.method_handlers_generic_handler(
                "grpc.health.v1.Health",
                {"Check": grpc.unary_unary_rpc_method_handler(check, lambda b: b, lambda b: b)},
            )
            self.server.add_generic_rpc_handlers((handler,))
        else:
            health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        if tls is None:
            self.port = self.server.add_insecure_port("127.0.0.1:0")
        else:
            credentials = grpc.ssl_server_credentials([(tls[1], tls[0])])
            self.port = self.server.add_secure_port("127.0.0.1:0", credentials)

    async def start(self) -> GrpcTarget:
        await self.server.start()
        return self

    async def set(self, service: str, status: Any) -> None:
        await self.health.set(service, status)

    async def close(self) -> None:
        await self.server.stop(None)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)
