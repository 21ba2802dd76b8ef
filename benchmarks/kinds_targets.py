"""Targets for benchmarks/kinds_cpu.py in their own process: HTTP and HTTPS (a login/orders API as well),
a gRPC health server, a DNS server and a UDP echo server, all on 127.0.0.1. Prints one line
`ports HTTP HTTPS GRPC DNS CA_FILE UDP`
once they accept; exits after `--lifetime` seconds or on SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import tempfile
from pathlib import Path

from aiohttp import web

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests.support.certs import make_certs  # noqa: E402
from tests.support.dnsserver import DnsTarget  # noqa: E402
from tests.support.grpcserver import SERVING, GrpcTarget  # noqa: E402
from tests.support.transactions import make_app  # noqa: E402
from tests.support.udpserver import UdpServer  # noqa: E402


async def main(lifetime: float) -> None:
    app = make_app()

    async def fast(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_get("/fast", fast)
    certs = make_certs(Path(tempfile.mkdtemp(prefix="slowatch-bench-")))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    plain = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    tls = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=certs.server_context("good"), backlog=1024)
    await plain.start()
    await tls.start()
    grpc_target = await GrpcTarget().start()
    await grpc_target.set("", SERVING)
    dns = await DnsTarget().start()
    loop = asyncio.get_running_loop()
    udp, _ = await loop.create_datagram_endpoint(lambda: UdpServer(lambda data: data), local_addr=("127.0.0.1", 0))
    ports = [s._server.sockets[0].getsockname()[1] for s in (plain, tls)]  # type: ignore[union-attr]
    print("ports", *ports, grpc_target.port, dns.port, certs.ca_file, udp.get_extra_info("sockname")[1], flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), lifetime)
    await grpc_target.close()
    await dns.close()
    udp.close()
    await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--lifetime", type=float, default=300)
    asyncio.run(main(parser.parse_args().lifetime))
