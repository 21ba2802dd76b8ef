"""Values interpolated from the environment into an endpoint's URL path or host never show anywhere.

`url: "http://127.0.0.1:P/json/${PATH_SECRET}"` and `http://${HOST_SECRET}.invalid/` are probed with
the secrets in them, but every surface shows `${PATH_SECRET}` / `${HOST_SECRET}` instead: logs (text
and JSON), /metrics, every GET route of the daemon, the status page, the CLI (`check`, `probe`,
`run --once`, `report`, `alerts`), the payloads of the Slack, webhook and Alertmanager sinks (real
receivers), and the SQLite files. Probes run in the daemon and in a prober worker process.
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from slowatch.clock import SystemClock
from slowatch.config import load_text
from slowatch.config.concealed import build_concealed, concealed_of
from slowatch.config.endpoints import HttpEndpoint
from slowatch.config.isolated import load_isolated
from slowatch.models import ProbeResult
from slowatch.probes import ProbeContext, make_session, probe_once
from slowatch.probes.registry import KINDS, describe_target
from slowatch.web.app import make_app
from slowatch.web.view import DaemonView
from tests.e2e.harness import DaemonProcess
from tests.support.dnsserver import DnsTarget

PATH_SECRET = "pathS3cretTok"
HOST_SECRET = "hostS3cretTok"
ENV = {"PATH_SECRET": PATH_SECRET, "HOST_SECRET": HOST_SECRET}
NAMES = ("path-secret", "host-secret", "tcp-secret", "dns-secret", "txn-secret", "grpc-secret", "icmp-secret")
SINKS = ("slack", "hook", "am")


def leaked(text: str) -> list[str]:
    """The secrets found in `text` (case-insensitive: host names come back lowercased)."""
    lowered = text.lower()
    return [s for s in (PATH_SECRET, HOST_SECRET) if s.lower() in lowered]


def config_text(target: int, receiver: int, dns: int, *, workers: int = 0, log_format: str = "text") -> str:
    return f"""
server:
  database: ./slowatch.db
  shutdown_grace: 2s
  probe_workers: {workers}
  log_format: {log_format}
defaults:
  interval: 1s
  timeout: 800ms
  alerts: {{failure_threshold: 1}}
endpoints:
  - {{name: path-secret, kind: http, url: "http://127.0.0.1:{target}/json/${{PATH_SECRET}}"}}
  - {{name: host-secret, kind: http, url: "http://${{HOST_SECRET}}.invalid/"}}
  - {{name: tcp-secret, kind: tcp, host: "${{HOST_SECRET}}.invalid", port: 80}}
  - {{name: dns-secret, kind: dns, query: "${{PATH_SECRET}}.test", nameserver: "127.0.0.1:{dns}"}}
  - {{name: txn-secret, kind: transaction, steps: [{{name: login, url: "http://${{HOST_SECRET}}.invalid/login"}},
                                                  {{name: call, url: "http://127.0.0.1:{target}/${{PATH_SECRET}}"}}]}}
  - {{name: grpc-secret, kind: grpc, host: "${{HOST_SECRET}}.invalid", port: 50051, service: "${{PATH_SECRET}}"}}
  - {{name: icmp-secret, kind: icmp, host: "${{HOST_SECRET}}.invalid", count: 1}}
consumers:
  - name: app
    endpoints: [path-secret, host-secret, tcp-secret, dns-secret, txn-secret, grpc-secret, icmp-secret]
    slos:
      - {{name: avail, sli: availability, objective: 99, window: 1h}}
sinks:
  slack: {{kind: slack, webhook_url: "http://127.0.0.1:{receiver}/slack"}}
  hook: {{kind: webhook, url: "http://127.0.0.1:{receiver}/hook"}}
  am: {{kind: alertmanager, url: "http://127.0.0.1:{receiver}"}}
routes:
  - match: {{}}
    sinks: [slack, hook, am]
"""


# --- the pieces ---------------------------------------------------------------------------------


def test_targets_are_shown_as_written_and_plain_endpoints_carry_nothing() -> None:
    config = load_text(config_text(8080, 9000, 53), env=ENV)
    shown = {ep.name: describe_target(ep) for ep in config.endpoints}
    assert shown == {
        "path-secret": "http://127.0.0.1:8080/json/${PATH_SECRET}",
        "host-secret": "http://${HOST_SECRET}.invalid/",
        "tcp-secret": "${HOST_SECRET}.invalid:80",
        "dns-secret": "${PATH_SECRET}.test A @127.0.0.1:53",
        "txn-secret": "http://${HOST_SECRET}.invalid/login (+1 step)",
        "grpc-secret": "grpc://${HOST_SECRET}.invalid:50051 ${PATH_SECRET}",
        "icmp-secret": "${HOST_SECRET}.invalid",
    }
    plain = load_text("endpoints: [{name: a, kind: http, url: 'http://h/x?k=v', interval: 10s}]", env=ENV)
    assert concealed_of(plain.endpoints[0]) is None  # nothing to do on the probe path
    assert describe_target(plain.endpoints[0]) == "http://h/x?k=redacted"


def test_a_large_config_loaded_in_a_child_process_keeps_its_concealment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "slowatch.yaml"
    path.write_text(config_text(8080, 9000, 53))
    config = load_isolated(path, threshold=0)  # the Config comes back pickled from `python -m ...isolated`
    assert describe_target(config.endpoint("host-secret")) == "http://${HOST_SECRET}.invalid/"


def test_a_short_value_is_replaced_only_as_a_whole_word() -> None:
    concealed = build_concealed({"port": "${PORT}"}, [("503", "${PORT}")])
    assert concealed is not None
    assert concealed.scrub("expected status 200, got 503") == "expected status 200, got ${PORT}"
    assert concealed.scrub("got 5030 bytes") == "got 5030 bytes"


@pytest.fixture
async def redirecting() -> AsyncIterator[TestServer]:
    """`/json/{x}` redirects to `/json/{x}/down`, which answers 503: the final URL carries the path."""

    async def first(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"/json/{request.match_info['x']}/down")

    async def down(request: web.Request) -> web.Response:
        return web.Response(status=503, text="down")

    app = web.Application()
    app.router.add_get("/json/{x}", first)
    app.router.add_get("/json/{x}/down", down)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


async def test_probe_results_conceal_values_also_for_a_pickled_endpoint(redirecting: TestServer) -> None:
    """Prober workers get their endpoints pickled: the concealment must travel with them."""
    dns = await DnsTarget().start()
    try:
        config = load_text(config_text(redirecting.port or 0, 9, dns.port), env=ENV)
        endpoints = pickle.loads(pickle.dumps(config.endpoints))
        async with make_session() as session:
            ctx = ProbeContext(session=session, clock=SystemClock())
            results = {ep.name: await probe_once(ep, ctx) for ep in endpoints}
    finally:
        await dns.close()
    text = repr(results)
    assert not leaked(text), text
    assert results["host-secret"].message == "cannot resolve ${HOST_SECRET}.invalid:80"
    assert results["path-secret"].final_url == f"http://127.0.0.1:{redirecting.port}/json/${{PATH_SECRET}}/down"
    assert results["tcp-secret"].message.startswith("cannot resolve ${HOST_SECRET}.invalid:80")
    assert results["dns-secret"].message == "NXDOMAIN for ${PATH_SECRET}.test A, expected NOERROR"
    assert results["txn-secret"].message == "step login: cannot resolve ${HOST_SECRET}.invalid:80"
    assert results["grpc-secret"].outcome.value == "dns_error", results["grpc-secret"]
    assert results["icmp-secret"].message.startswith("cannot resolve ${HOST_SECRET}.invalid")


async def test_a_probe_bug_logs_its_traceback_concealed(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(endpoint: HttpEndpoint, ctx: ProbeContext) -> ProbeResult:
        raise ValueError(f"cannot use {endpoint.url}")

    monkeypatch.setitem(KINDS, "http", replace(KINDS["http"], probe=broken))
    config = load_text(config_text(8080, 9, 53), env=ENV)
    async with make_session() as session:
        result = await probe_once(config.endpoint("path-secret"), ProbeContext(session=session, clock=SystemClock()))
    assert result.message == "ValueError: cannot use http://127.0.0.1:8080/json/${PATH_SECRET}"
    assert "raise ValueError" in caplog.text and "${PATH_SECRET}" in caplog.text
    assert not leaked(caplog.text), caplog.text


# --- the whole daemon -------------------------------------------------------------------------------


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[TestServer, dict[str, list[str]]]]:
    """Real Slack, webhook and Alertmanager stand-ins: each keeps the raw bodies it received."""
    bodies: dict[str, list[str]] = {name: [] for name in SINKS}

    def keep(sink: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            bodies[sink].append(await request.text())
            return web.Response(text="ok")

        return handler

    app = web.Application()
    app.router.add_post("/slack", keep("slack"))
    app.router.add_post("/hook", keep("hook"))
    app.router.add_post("/api/v2/alerts", keep("am"))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server, bodies
    await server.close()


def every_get_route() -> set[str]:
    """The GET routes the daemon serves, read from its own router (a new route must be added below)."""
    app = make_app(cast(DaemonView, None))
    return {r.canonical for r in app.router.resources() if any(route.method == "GET" for route in r)}


def concrete(route: str, name: str) -> str:
    """A route of the app with its path parameters filled: an endpoint `name`, the consumer app/avail."""
    return route.replace("{name}", name).replace("{consumer}", "app").replace("{slo}", "avail")


async def cli(*args: str, cwd: Path) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "slowatch", *args, cwd=cwd, env={**os.environ, **ENV},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return out.decode(errors="replace")


async def wait_for(check: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.2)


@pytest.mark.slow
@pytest.mark.parametrize(("workers", "log_format"), [(0, "json"), (1, "text")])
async def test_no_surface_shows_an_interpolated_secret(
    redirecting: TestServer,
    receiver: tuple[TestServer, dict[str, list[str]]],
    daemons: list[DaemonProcess],
    tmp_path: Path,
    workers: int,
    log_format: str,
) -> None:
    server, bodies = receiver
    dns = await DnsTarget().start()
    try:
        path = tmp_path / "slowatch.yaml"
        text = config_text(redirecting.port or 0, server.port or 0, dns.port, workers=workers, log_format=log_format)
        path.write_text(text)
        shown: dict[str, str] = {}

        d = DaemonProcess(path, tmp_path, env=ENV)
        daemons.append(d)
        # `check` reads the config file only: it runs while the daemon starts
        shown["slowatch check"], _ = await asyncio.gather(cli("check", str(path), cwd=tmp_path), d.start())

        async def alerted_everywhere() -> bool:
            return all(all(n in "".join(bodies[s]) for n in NAMES) for s in SINKS)

        async def incidents_recorded() -> bool:
            status, body = await d.get("/api/v1/incidents")
            return status == 200 and all(n in body for n in NAMES)

        await wait_for(alerted_everywhere, "every sink got an alert for every endpoint")
        await wait_for(incidents_recorded, "an incident for every endpoint")
        routes = every_get_route()
        for route in sorted(routes):
            for name in NAMES if "{name}" in route else ("-",):
                status, body = await d.get(concrete(route, name))
                assert status == 200, (route, status, body)
                shown[concrete(route, name)] = body
        status, body = await d.get("/api/v1/endpoints")
        targets = {ep["name"]: ep["target"] for ep in json.loads(body)["endpoints"]}
        assert targets["path-secret"].endswith("/json/${PATH_SECRET}")  # shown as written, not hidden away
        assert "${HOST_SECRET}" in json.loads(body)["endpoints"][1]["latest"]["message"]
        for sink in SINKS:
            shown[f"{sink} payloads"] = "\n".join(bodies[sink])
        assert await d.stop() == 0
        shown["daemon log"] = d.log()
        if log_format == "json":
            assert all(json.loads(line) for line in d.log().splitlines() if line.strip())

        db = tmp_path / "slowatch.db"
        for f in sorted(tmp_path.glob("slowatch.db*")):
            shown[f.name] = f.read_bytes().decode("latin-1")
        shown["slowatch report"] = await cli("report", "--config", str(path), "--format", "json", cwd=tmp_path)
        shown["slowatch alerts"] = await cli("alerts", "--config", str(path), "--db", str(db), cwd=tmp_path)
        # one-off probes read no database: all at once (a subprocess each, mostly Python's start-up)
        probed = await asyncio.gather(*(cli("probe", "--config", str(path), name, cwd=tmp_path) for name in NAMES))
        shown.update({f"slowatch probe {name}": out for name, out in zip(NAMES, probed, strict=True)})
        shown["slowatch run --once"] = await cli("run", "--config", str(path), "--once", cwd=tmp_path)
    finally:
        await dns.close()

    assert "${HOST_SECRET}" in shown["slowatch probe host-secret"]
    assert "cannot resolve ${HOST_SECRET}.invalid" in shown["slowatch run --once"]
    assert {"/metrics", "/", "/api/v1/alerts", "/api/v1/endpoints/host-secret/results"} <= set(shown)
    found = {where: leaked(text) for where, text in shown.items() if leaked(text)}
    assert not found, f"secrets leaked: {found}"
