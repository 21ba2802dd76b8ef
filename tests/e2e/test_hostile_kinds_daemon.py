"""The real daemon against hostile targets of every socket kind (tcp, tls, dns, udp) and the HTTP
misbehaviours the HTTP-only test leaves out: each is recorded with its outcome within its timeout, the
healthy endpoint stays on schedule, the daemon holds no more file descriptors after hundreds of failing
probes than after the first round, and nothing (a traceback, a query value) reaches the log."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import DaemonProcess, free_port, metric_value
from tests.support.dnsserver import DnsTarget
from tests.support.hostile import HostileHttp, Request, TcpTarget, garbage, hang, http_head, reset_at_once

_BOMB = gzip.compress(bytes(64 << 20), 9)  # 64 MiB of zeros in ~64 KiB


async def _header_drip(req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\n")
    for _ in range(60):  # a byte of a header every 100 ms: every read returns, only the total may end it
        writer.write(b"X")
        await writer.drain()
        await asyncio.sleep(0.1)


async def _continue_flood(req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    for _ in range(100_000):
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" * 50)
        await writer.drain()
        await asyncio.sleep(0.001)


async def _gzip_bomb(req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    head = {"Content-Encoding": "gzip", "Content-Length": str(len(_BOMB)), "Content-Type": "text/plain"}
    writer.write(http_head(200, head) + _BOMB)
    await writer.drain()


async def _http09(req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"<html>an HTTP/0.9 answer: no status line</html>\n")
    await writer.drain()


HTTP = {  # path -> the outcome every result must have
    "header-drip": "timeout",
    "continue-flood": "timeout",
    "gzip-bomb": "body_too_large",
    "http09": "protocol_error",
}


class _Silent:
    """A bound UDP socket that reads nothing and answers nothing (a blackholed port)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]


@pytest.fixture
async def targets() -> AsyncIterator[dict[str, Any]]:
    http = await TcpTarget(HostileHttp(routes={f"/{p}": r for p, r in zip(HTTP, _ROUTES, strict=True)})).start()
    blackhole, resetter, babbler = [await TcpTarget(h).start() for h in (hang, reset_at_once, garbage)]
    dns = await DnsTarget().start()
    silent = _Silent()
    yield {"http": http, "hang": blackhole, "reset": resetter, "garbage": babbler, "dns": dns, "udp": silent}
    for target in (http, blackhole, resetter, babbler):
        await target.close()
    await dns.close()
    silent.sock.close()


_ROUTES = (_header_drip, _continue_flood, _gzip_bomb, _http09)


def _config(t: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The config and, per endpoint, the outcome each of its results must have."""
    http, dns = t["http"].port, t["dns"].port
    endpoints = {
        "healthy": (f"{{kind: http, url: 'http://127.0.0.1:{http}/ok?token=s3cr3t-q'}}", "success"),
        **{
            path: (
                f"{{kind: http, url: 'http://127.0.0.1:{http}/{path}?token=s3cr3t-q', "
                "expect: {body: [{contains: needle}]}}",
                outcome,
            )
            for path, outcome in HTTP.items()
        },
        "tcp-blackhole": (f"{{kind: tcp, host: 127.0.0.1, port: {t['hang'].port}}}", "success"),
        "tcp-banner-blackhole": (
            f"{{kind: tcp, host: 127.0.0.1, port: {t['hang'].port}, expect: {{contains: SSH}}}}",
            "timeout",
        ),
        "tcp-reset": (
            f"{{kind: tcp, host: 127.0.0.1, port: {t['reset'].port}, expect: {{contains: SSH}}}}",
            "connection_reset",
        ),
        "tcp-garbage": (
            f"{{kind: tcp, host: 127.0.0.1, port: {t['garbage'].port}, expect: {{regex: '^220 '}}}}",
            "assertion_failed",
        ),
        "tcp-refused": (f"{{kind: tcp, host: 127.0.0.1, port: {free_port()}}}", "connection_refused"),
        "tls-stall": (f"{{kind: tls, host: 127.0.0.1, port: {t['hang'].port}}}", "timeout"),
        "tls-garbage": (f"{{kind: tls, host: 127.0.0.1, port: {t['garbage'].port}}}", "tls_error"),
        "dns-silent": (f"{{kind: dns, query: timeout.test, nameserver: '127.0.0.1:{dns}'}}", "timeout"),
        "dns-garbage": (f"{{kind: dns, query: garbage.test, nameserver: '127.0.0.1:{dns}'}}", "protocol_error"),
        "dns-tcp-close": (
            f"{{kind: dns, query: close.test, transport: tcp, nameserver: '127.0.0.1:{dns}'}}",
            "connection_reset",
        ),
        "udp-silent": (
            f"{{kind: udp, host: 127.0.0.1, port: {t['udp'].port}, send: ping, expect: {{contains: pong}}}}",
            "timeout",
        ),
    }
    lines = [
        "server: {database: ./k.db, shutdown_grace: 1s}",
        "defaults: {interval: 1s, timeout: 500ms}",
        "endpoints:",
    ]
    lines += [f"  - {{name: {name}, {spec[1:]}" for name, (spec, _) in endpoints.items()]
    return "\n".join(lines) + "\n", {name: outcome for name, (_, outcome) in endpoints.items()}


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def test_hostile_targets_of_every_kind_are_recorded_in_time_without_leaks(
    targets: dict[str, Any], write_config: Callable[[str], Path], tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    text, expected = _config(targets)
    d = DaemonProcess(write_config(text), tmp_path)
    daemons.append(d)
    await d.start()
    assert d.proc is not None
    await asyncio.sleep(2)  # the first rounds: connector, resolver and TLS state warmed up
    fds_early = _fds(d.proc.pid)
    await asyncio.sleep(4.5)  # ~100 more failing probes
    fds_late = _fds(d.proc.pid)

    status, body = await d.get("/api/v1/endpoints")
    assert status == 200, body
    latest = {e["name"]: e["latest"] for e in json.loads(body)["endpoints"]}
    metrics = await d.metrics()
    for name, outcome in expected.items():
        counts = {
            line.split('outcome="', 1)[1].split('"', 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith(f'slowatch_probes_total{{endpoint="{name}",')
        }
        assert set(counts) == {outcome} and counts[outcome] >= 5, f"{name}: {counts}; latest {latest[name]}"
        assert latest[name]["outcome"] == outcome and latest[name]["duration_seconds"] <= 0.5 + 0.35, latest[name]
    assert metric_value(metrics, "slowatch_scheduler_skipped_runs_total") == 0
    assert metric_value(metrics, "slowatch_scheduler_missed_runs_total") == 0
    assert fds_late <= fds_early + 2, (fds_early, fds_late)

    assert await d.stop() == 0
    log = d.log()
    assert "Traceback" not in log and "probe raised" not in log, log[-3000:]
    assert "s3cr3t-q" not in log
