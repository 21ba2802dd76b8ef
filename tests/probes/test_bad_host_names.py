"""A host name that cannot be looked up at all (an empty label, `a..example`, or one longer than 63
characters) is a `dns_error` for every kind, not a probe bug.

Python's resolver refuses such names before asking anyone (IDNA encoding raises UnicodeError, not an
OSError), so the exception escaped every probe: the result was `error` "UnicodeError: encoding with 'idna'
codec failed", with a traceback logged at every interval. A hostile target reaches it through a redirect.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from pydantic import ValidationError

from slowatch.config.endpoints import DnsEndpoint, GrpcEndpoint, IcmpEndpoint
from slowatch.config.udp import UdpEndpoint
from slowatch.models import Outcome
from slowatch.probes import ProbeContext, probe_once
from tests.probes.conftest import http_endpoint, tcp_endpoint, tls_endpoint
from tests.support.hostile import HostileHttp, redirect

LONG = "a" * 64 + ".example"
BASE = {"name": "t", "interval": 10, "timeout": 1}
REASON = "not a valid host name (an empty label, or one longer than 63 characters)"


def endpoints(host: str) -> dict[str, Any]:
    return {
        "http": http_endpoint(f"http://{host}:8080/health"),
        "tcp": tcp_endpoint(8080, host=host),
        "tls": tls_endpoint(8443, host=host),
        "udp": UdpEndpoint.model_validate({**BASE, "kind": "udp", "host": host, "port": 8125, "send": "x"}),
        "dns": DnsEndpoint.model_validate({**BASE, "kind": "dns", "query": "up.test", "nameserver": f"{host}:53"}),
        "icmp": IcmpEndpoint.model_validate({**BASE, "kind": "icmp", "host": host}),
        "grpc": GrpcEndpoint.model_validate({**BASE, "kind": "grpc", "host": host, "port": 50051}),
    }


@pytest.mark.parametrize("kind", ["http", "tcp", "tls", "udp", "dns", "icmp"])
@pytest.mark.parametrize("host", ["a..example", LONG], ids=["empty-label", "long-label"])
async def test_a_host_name_that_cannot_be_looked_up_is_a_dns_error(
    ctx: ProbeContext, caplog: pytest.LogCaptureFixture, kind: str, host: str
) -> None:
    with caplog.at_level(logging.ERROR):
        result = await probe_once(endpoints(host)[kind], ctx)
    assert result.outcome is Outcome.DNS_ERROR, result.message
    assert result.message.endswith(REASON), result.message
    assert host in result.message
    assert not caplog.records  # no "probe raised" and its traceback


@pytest.mark.parametrize("host", ["a..example", LONG], ids=["empty-label", "long-label"])
async def test_grpc_says_so_too(ctx: ProbeContext, host: str) -> None:
    """grpc resolves in its C core (no traceback there): it was `error` "... unavailable: errors resolving ...",
    and for a long name the cause was cut from the text matched."""
    result = await probe_once(endpoints(host)["grpc"], ctx)
    assert (result.outcome, result.message) == (Outcome.DNS_ERROR, f"cannot resolve {host}:50051")


@pytest.mark.parametrize("host", ["a..example", LONG], ids=["empty-label", "long-label"])
async def test_a_redirect_to_such_a_host_is_a_dns_error_naming_it(
    ctx: ProbeContext, serve: Any, caplog: pytest.LogCaptureFixture, host: str
) -> None:
    target = await serve(HostileHttp(routes={"/r": redirect(lambda req: f"http://{host}/x?token=s3cret")}))
    with caplog.at_level(logging.ERROR):
        result = await probe_once(http_endpoint(f"http://127.0.0.1:{target.port}/r"), ctx)
    assert (result.outcome, result.message) == (Outcome.DNS_ERROR, f"cannot resolve {host}:80: {REASON}")
    assert not caplog.records


@pytest.mark.parametrize("name", ["a..example", LONG])
@pytest.mark.parametrize("kind", ["tls", "http"])
def test_a_server_name_that_cannot_be_sent_is_a_config_error(kind: str, name: str) -> None:
    """`server_name` (SNI) goes to ssl only, which raised UnicodeError: the tls probe's result was `error` with a
    traceback at every interval, and on uvloop the half-built transport kept the socket's fd number, so a
    later probe's socket got 'Bad file descriptor'. The config is the only place it comes from."""
    with pytest.raises(ValidationError, match=f"server_name\\n.*{re.escape(REASON)}"):
        if kind == "tls":
            tls_endpoint(8443, server_name=name)
        else:
            http_endpoint("https://127.0.0.1:8443/", tls={"server_name": name})


@pytest.mark.parametrize("name", ["api.example", "example.com.", "b\u00fccher.example", "10.0.0.1", "::1", "[::1]"])
def test_a_server_name_ssl_can_send_loads(name: str) -> None:
    assert tls_endpoint(8443, server_name=name).server_name == name.strip("[]")
