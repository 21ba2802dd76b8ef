"""The HTTP probe following a redirect somewhere hostile: a broken Location is a `protocol_error` (never an
exception), and a hop that fails names the host and port it failed on, not the configured one."""

from __future__ import annotations

from typing import Any

import pytest

from slowatch.models import Outcome
from slowatch.probes import ProbeContext, http
from tests.probes.conftest import http_endpoint
from tests.support.hostile import HostileHttp, free_port, redirect


@pytest.mark.parametrize(
    ("location", "shown"),
    [
        ("http://127.0.0.1:99999/x", "http://127.0.0.1:99999/x"),
        ("http://user:hunter2@127.0.0.1:70000/x?token=abc", "http://127.0.0.1:70000/x?token=redacted"),
        ("http://127.0.0.1:port/x", "http://127.0.0.1:port/x"),
    ],
)
async def test_redirect_to_a_port_out_of_range_is_protocol_error(
    ctx: ProbeContext, serve: Any, location: str, shown: str
) -> None:
    target = await serve(HostileHttp(routes={"/r": redirect(lambda req: location)}))
    result = await http.probe(http_endpoint(f"http://127.0.0.1:{target.port}/r"), ctx)
    assert (result.outcome, result.message) == (Outcome.PROTOCOL_ERROR, f"invalid redirect target: {shown}")


async def test_a_refused_redirect_hop_names_its_own_port(ctx: ProbeContext, serve: Any) -> None:
    closed = free_port()
    target = await serve(HostileHttp(routes={"/r": redirect(lambda req: f"http://127.0.0.1:{closed}/x")}))
    result = await http.probe(http_endpoint(f"http://127.0.0.1:{target.port}/r"), ctx)
    assert (result.outcome, result.message) == (Outcome.CONNECTION_REFUSED, f"connection refused by 127.0.0.1:{closed}")


async def test_an_unresolvable_redirect_hop_names_its_own_host(ctx: ProbeContext, serve: Any) -> None:
    target = await serve(HostileHttp(routes={"/r": redirect(lambda req: "http://no-such-host.invalid:8080/x")}))
    result = await http.probe(http_endpoint(f"http://127.0.0.1:{target.port}/r", timeout=2), ctx)
    assert result.outcome is Outcome.DNS_ERROR
    assert result.message == "cannot resolve no-such-host.invalid:8080"


async def test_a_configured_host_header_stays_with_the_configured_origin(ctx: ProbeContext, serve: Any) -> None:
    """As Go's client (blackbox_exporter) does: `Host` names a virtual host of the configured server; another
    server reached by a redirect gets its own name, or it would answer for a host it does not serve."""
    other = HostileHttp()
    other_target = await serve(other)
    first = HostileHttp(routes={"/away": redirect(lambda req: f"http://localhost:{other_target.port}/ok")})
    first.routes["/near"] = redirect(lambda req: "/ok")
    target = await serve(first)
    headers = {"host": "vhost.example", "X-Probe": "1"}
    near = await http.probe(http_endpoint(f"http://127.0.0.1:{target.port}/near", headers=headers), ctx)
    assert near.outcome is Outcome.SUCCESS
    assert [(r.path, r.headers["host"]) for r in first.requests] == [
        ("/near", "vhost.example"),
        ("/ok", "vhost.example"),
    ]
    away = await http.probe(http_endpoint(f"http://127.0.0.1:{target.port}/away", headers=headers), ctx)
    assert away.outcome is Outcome.SUCCESS
    assert first.requests[-1].headers["host"] == "vhost.example"
    assert other.requests[-1].headers["host"] == f"localhost:{other_target.port}"
    assert other.requests[-1].headers["x-probe"] == "1"  # other headers follow, as before
