"""A page of another site may not read a local daemon through DNS rebinding (slowatch/web/hosts.py).

Without `server.auth`, on 127.0.0.1, every GET was answered whatever its Host: a page on
`http://evil.example:PORT/` whose name its owner then points at 127.0.0.1 is same-origin with the daemon and read
the endpoints, the consumers' budgets, the status and consumer pages and `/metrics` (such a GET carries no Origin;
only Host names the attacker's domain). A real aiohttp client sends each request with the Host such a browser
sends; the daemon is a real one on a real port.
"""

from __future__ import annotations

import json
import socket

import aiohttp
import pytest

from slowatch.daemon import Daemon
from tests.web.conftest import Builder

READS = ("/", "/api/v1/endpoints", "/api/v1/consumers", "/consumers/checkout", "/metrics", "/api/v1/config")
OPERATOR = "operator-token-0123456789"


async def get(daemon: Daemon, path: str, host: str, token: str | None = None) -> tuple[int, str, str]:
    headers = {"Host": host.replace("PORT", str(daemon.bound_port))}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    url = f"http://127.0.0.1:{daemon.bound_port}{path}"
    async with aiohttp.ClientSession() as s, s.get(url, headers=headers) as r:
        return r.status, r.headers.get("Content-Type", ""), await r.text()


@pytest.mark.parametrize("host", ["evil.example:PORT", "EVIL.example.:PORT", "127.0.0.1.evil.example", "localhost.x"])
async def test_a_rebound_page_reads_nothing_from_a_loopback_daemon_without_auth(
    build: Builder, host: str, caplog: pytest.LogCaptureFixture
) -> None:
    daemon = await build()

    for path in READS:
        status, kind, body = await get(daemon, path, host)
        assert status == 421, (path, status)
        text = json.loads(body)["error"] if path.startswith("/api/") else body
        assert "server.http.allowed_hosts" in text and "DNS rebinding" in text, (path, text)
        assert "checkout" not in text
        assert kind.startswith("application/json" if path.startswith("/api/") else "text/plain"), (path, kind)
    for path in ("/healthz", "/readyz"):  # liveness, whatever name a probe uses
        assert (await get(daemon, path, host))[0] == 200
    assert any("unknown Host" in r.getMessage() for r in caplog.records)


async def test_addresses_localhost_and_this_machine_s_name_are_answered(build: Builder) -> None:
    daemon = await build()

    for host in ("127.0.0.1:PORT", "[::1]:PORT", "localhost:PORT", "app.localhost:PORT", "10.1.2.3:PORT"):
        assert [(await get(daemon, path, host))[0] for path in READS] == [200] * len(READS), host
    assert (await get(daemon, "/", f"{socket.gethostname()}:PORT"))[0] == 200


async def test_the_names_the_config_gives_are_answered(build: Builder) -> None:
    """A reverse proxy that passes its public Host (Caddy's default, nginx's `proxy_set_header Host $host`)."""
    config = '  external_url: "https://status.example.com/slowatch"\n  http: {allowed_hosts: [monitor.internal]}'
    daemon = await build(auth=config)

    for host in ("status.example.com", "STATUS.example.com:443", "monitor.internal:PORT"):
        assert (await get(daemon, "/api/v1/endpoints", host))[0] == 200, host
    assert (await get(daemon, "/api/v1/endpoints", "evil.example"))[0] == 421


async def test_a_star_answers_any_host(build: Builder) -> None:
    star = await build(auth='  http: {allowed_hosts: ["*"]}')
    assert (await get(star, "/api/v1/endpoints", "evil.example:PORT"))[0] == 200


async def test_with_auth_the_token_decides_whatever_the_host(build: Builder) -> None:
    with_auth = await build(auth=f"  auth: {{operator_tokens: [{OPERATOR}]}}")
    assert (await get(with_auth, "/api/v1/endpoints", "evil.example:PORT"))[0] == 401  # a token is what protects it
    assert (await get(with_auth, "/api/v1/endpoints", "status.example.com", OPERATOR))[0] == 200


@pytest.mark.parametrize("name", ["https://status.example.com", "status.example.com:443", "a b", ""])
def test_an_allowed_host_is_a_bare_name(name: str) -> None:
    from slowatch.config import load_text
    from slowatch.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        load_text(f'server: {{http: {{allowed_hosts: ["{name}"]}}}}\n', "c.yaml", env={})
    assert [p.path for p in info.value.problems] == ["server.http.allowed_hosts[0]"]
    assert "without scheme or port" in info.value.problems[0].message
