"""An extracted value never changes where a transaction step's request goes.

A hostile login step hands out a value built to move the next request (which carries a secret) to another
host, or to add path / query structure. In the path, query and fragment a value is one percent-encoded
component; in the authority it must be a host name / IP literal / port fitting its place, or the step fails
unsent. `api` is the target the template names; `evil` stands for the attacker's host and must see nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import ValidationError
from yarl import URL

from slowatch.config.endpoints import TransactionEndpoint
from slowatch.config.step_url import UrlTemplate
from slowatch.config.transaction import Step
from slowatch.models import Outcome
from slowatch.probes import ProbeContext, probe_once

SECRET = "Bearer s3cr3t-from-config"


@dataclass
class Seen:
    """What one server received after the login: raw request targets and their Authorization headers."""

    value: str = ""
    targets: list[str] = field(default_factory=list)
    auth: list[str | None] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)


SEEN = web.AppKey("seen", Seen)


async def _login(request: web.Request) -> web.Response:
    return web.json_response({"v": request.app[SEEN].value})


async def _anything(request: web.Request) -> web.Response:
    seen = request.app[SEEN]
    seen.targets.append(request.raw_path)
    seen.auth.append(request.headers.get("Authorization"))
    seen.bodies.append(await request.text())
    return web.Response(text="ok")


async def _server(aiohttp_server: Any) -> TestServer:
    app = web.Application()
    app[SEEN] = Seen()
    app.router.add_get("/login", _login)
    app.router.add_route("*", r"/{tail:[\s\S]*}", _anything)
    server: TestServer = await aiohttp_server(app)
    return server


def seen(server: TestServer) -> Seen:
    app: web.Application = server.app  # type: ignore[assignment]
    return app[SEEN]


@pytest.fixture
async def api(aiohttp_server: Any) -> TestServer:
    return await _server(aiohttp_server)


@pytest.fixture
async def evil(aiohttp_server: Any) -> TestServer:
    return await _server(aiohttp_server)


async def run(ctx: ProbeContext, api: TestServer, value: str, url: str) -> tuple[Outcome, str]:
    """Log in at `api` (which hands out `value` as `{{steps.login.v}}`), then GET `url` with a secret header."""
    seen(api).value = value
    steps = [
        {"name": "login", "url": f"http://127.0.0.1:{api.port}/login", "extract": {"v": {"json_path": "$.v"}}},
        {"name": "next", "url": url, "headers": {"Authorization": SECRET}},
    ]
    doc = {"kind": "transaction", "name": "t", "interval": 10, "timeout": 2, "steps": steps}
    result = await probe_once(TransactionEndpoint.model_validate(doc), ctx)
    assert value not in result.message or not value
    return result.outcome, result.message


REF = "{{steps.login.v}}"
NAME = f"{REF} cannot be a host name (letters, digits, '.', '-', '_')"
WHOLE = f"{REF} cannot be a host or host:port (letters, digits, '.', '-', '_', ':', [])"
PORT = f"{REF} cannot be a port (1 to 5 digits)"


@pytest.mark.parametrize(
    ("template", "value", "sent"),
    [
        ("/items/" + REF, "x/../../admin?steal=1#f", "/items/x%2F..%2F..%2Fadmin%3Fsteal%3D1%23f"),
        ("/items/" + REF + "/detail", "..", "/items/%2E%2E/detail"),  # not a dot segment removing /items
        ("/q?id=" + REF + "&k=v", "1&admin=true", "/q?id=1%26admin%3Dtrue&k=v"),
        ("/q?id=" + REF, "a b+c=d;e", "/q?id=a%20b%2Bc%3Dd%3Be"),
        ("/p/" + REF, "a\r\nb\tc", "/p/a%0D%0Ab%09c"),  # encoded, not silently stripped
        ("/p/" + REF, "@127.0.0.1:1/", "/p/%40127.0.0.1%3A1%2F"),
        ("/p/" + REF + "#" + REF, "x#y", "/p/x%23y"),  # the fragment is not sent; its value is encoded too
        ("/p/" + REF, "caf\u00e9~tok-1.2_3", "/p/caf%C3%A9~tok-1.2_3"),
        ("/p/" + REF, "%2F", "/p/%252F"),  # a value is text: its % is encoded, never decoded
    ],
)
async def test_a_value_in_the_path_query_or_fragment_is_one_encoded_component(
    ctx: ProbeContext, api: TestServer, evil: TestServer, template: str, value: str, sent: str
) -> None:
    value = value.replace("1:1", f"1:{evil.port}")
    sent = sent.replace("1%3A1", f"1%3A{evil.port}")
    outcome, message = await run(ctx, api, value, f"http://127.0.0.1:{api.port}{template}")
    assert (outcome, message) == (Outcome.SUCCESS, "")
    assert seen(api).targets == [sent]
    assert seen(evil).targets == []


@pytest.mark.parametrize(
    ("template", "value", "why"),
    [  # {E}: evil's port, {A}: api's
        ("http://{REF}:{A}/next", "127.0.0.1:{E}/", NAME),
        ("http://{REF}:{A}/next", "127.0.0.1:{E}#", NAME),
        ("http://{REF}:{A}/next", "127.0.0.1:{E}?", NAME),
        ("http://{REF}:{A}/next", "x@127.0.0.1", NAME),
        ("http://{REF}:{A}/next", "127.0.0.1\\", NAME),
        ("http://{REF}:{A}/next", "127.0.0.1%2f", NAME),
        ("http://{REF}:{A}/next", "127\uff0e0\uff0e0\uff0e1", NAME),
        ("http://127.0.0.1:{REF}/next", "{E}/", PORT),
        ("http://127.0.0.1:{REF}/next", "{E}@127.0.0.1:{E}", PORT),
        ("http://127.0.0.1:{REF}/next", "", PORT),
        ("http://{REF}/next", "127.0.0.1:{E}/x?", WHOLE),
        ("http://{REF}/next", "u:p@127.0.0.1:{E}", WHOLE),
        ("http://{REF}/next", "127.0.0.1:{E}#", WHOLE),
        ("http://{REF}/next", "127.0.0.1:{E}\r\n", WHOLE),
    ],
)  # fmt: skip
async def test_a_value_that_does_not_fit_its_place_in_the_authority_fails_the_step_unsent(
    ctx: ProbeContext, api: TestServer, evil: TestServer, template: str, value: str, why: str
) -> None:
    """Before: `http://{{host}}:8443/x` with `evil:80/` went to evil with the config's Authorization header."""
    url = template.replace("{REF}", REF).replace("{A}", str(api.port))
    outcome, message = await run(ctx, api, value.replace("{E}", str(evil.port)), url)
    assert (outcome, message) == (Outcome.ASSERTION_FAILED, f"step next: {why}; not sent")
    assert seen(api).targets == [] and seen(evil).targets == []


@pytest.mark.parametrize(
    ("template", "value"),
    [
        ("http://{REF}/next", "127.0.0.1:{A}"),  # the whole authority: host:port
        ("http://{REF}/next", "localhost:{A}"),
        ("http://{REF}:{A}/next", "127.0.0.1"),  # the host
        ("http://{REF}:{A}/next", "LOCALHOST"),
        ("http://127.0.0.1:{REF}/next", "{A}"),  # the port
        ("http://127.0.0.{REF}:{A}/next", "1"),  # part of the host
    ],
)
async def test_a_host_or_port_where_the_template_puts_one_still_works(
    ctx: ProbeContext, api: TestServer, evil: TestServer, template: str, value: str
) -> None:
    url = template.replace("{REF}", REF).replace("{A}", str(api.port))
    outcome, message = await run(ctx, api, value.replace("{A}", str(api.port)), url)
    assert (outcome, message) == (Outcome.SUCCESS, "")
    assert seen(api).targets == ["/next"] and seen(api).auth == [SECRET]
    assert seen(evil).targets == []


async def test_a_json_body_carries_the_value_json_encoded(ctx: ProbeContext, api: TestServer) -> None:
    """`json:` bodies are encoded after filling: a quote in the value cannot add a key (a guard, not a fix)."""
    value = 'x", "admin": true, "y": "'
    seen(api).value = value
    steps = [
        {"name": "login", "url": f"http://127.0.0.1:{api.port}/login", "extract": {"v": {"json_path": "$.v"}}},
        {"name": "next", "method": "POST", "url": f"http://127.0.0.1:{api.port}/next", "json": {"t": REF}},
    ]
    doc = {"kind": "transaction", "name": "t", "interval": 10, "timeout": 2, "steps": steps}
    result = await probe_once(TransactionEndpoint.model_validate(doc), ctx)
    assert result.outcome is Outcome.SUCCESS and seen(api).targets == ["/next"]
    assert json.loads(seen(api).bodies[0]) == {"t": value}


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{{steps.a.port}}/x",  # a port: was a config error ("port can't be converted to integer")
        "http://127.0.0.1:8{{steps.a.port}}/x",
        "https://{{steps.a.sub}}.example.com/x?q={{steps.a.q}}#{{steps.a.f}}",
        "http://{{steps.a.host}}",
    ],
)
def test_a_reference_in_any_place_of_the_url_loads(url: str) -> None:
    assert Step(name="s", url=url).url == url


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("http://[{{steps.a.ip}}]:80/x", "not a URL"),  # inside brackets: give the whole host, `[::1]`
        ("http://{{steps.a.user}}@127.0.0.1/x", "credentials do not belong in the URL"),
        ("{{steps.a.scheme}}://127.0.0.1/x", "must be an http:// or https:// URL"),
    ],
)
def test_a_reference_where_no_value_may_go_is_a_config_error(url: str, error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        Step(name="s", url=url)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/a b?x=1 2&y=é#frag", "https://bücher.example/%7Ea/../b", "http://h:80"]
)
def test_a_url_without_references_is_sent_as_before(url: str) -> None:
    assert UrlTemplate.parse(url).fill(lambda step, var: "unused") == URL(url)


def test_a_value_filling_the_whole_host_may_be_a_bracketed_ipv6_literal() -> None:
    url = UrlTemplate.parse("http://{{steps.a.h}}:8080/x/{{steps.a.h}}").fill(lambda step, var: "[::1]")
    assert (url.host, url.port, url.raw_path) == ("::1", 8080, "/x/%5B%3A%3A1%5D")


@pytest.mark.parametrize(
    ("template", "value", "sent"),
    [
        ("http://127.0.0.1:{A}" + REF, "/orders/123", "/orders/123"),
        ("http://127.0.0.1:{A}" + REF, "/orders?page=2&size=10", "/orders?page=2&size=10"),
        ("http://127.0.0.1:{A}" + REF + "?expand=items", "/orders/a b", "/orders/a%20b?expand=items"),
        ("http://127.0.0.1:{A}" + REF, "//127.0.0.1:{E}/x", "//127.0.0.1:{E}/x"),  # a path, on api
        ("http://127.0.0.1:{A}" + REF, "/@127.0.0.1:{E}/x", "/@127.0.0.1:{E}/x"),
    ],
)
async def test_a_value_starting_with_a_slash_right_after_the_host_is_the_path(
    ctx: ProbeContext, api: TestServer, evil: TestServer, template: str, value: str, sent: str
) -> None:
    """Create, then follow the `Location` it gives (`/orders/123`): `https://api.example{{steps.create.location}}`.
    Before, the value was read as the end of the host name, and every run failed unsent."""
    url = template.replace("{A}", str(api.port))
    outcome, message = await run(ctx, api, value.replace("{E}", str(evil.port)), url)
    assert (outcome, message) == (Outcome.SUCCESS, "")
    assert seen(api).targets == [sent.replace("{E}", str(evil.port))] and seen(api).auth == [SECRET]
    assert seen(evil).targets == []


@pytest.mark.parametrize(
    ("template", "value", "why"),
    [
        ("http://127.0.0.1:{A}" + REF, "orders/1", f"{PORT} or a path (/...)"),  # (the port's digits, or a path)
        ("http://localhost" + REF, "orders/1", f"{NAME} or a path (/...)"),
        ("http://{REF}", "/orders/1", WHOLE),  # no host before it
        ("http://127.0.0.1:{REF}", "/orders/1", PORT),
    ],
)
async def test_a_path_value_needs_a_host_before_it_and_a_leading_slash(
    ctx: ProbeContext, api: TestServer, evil: TestServer, template: str, value: str, why: str
) -> None:
    url = template.replace("{REF}", REF).replace("{A}", str(api.port))
    outcome, message = await run(ctx, api, value, url)
    assert (outcome, message) == (Outcome.ASSERTION_FAILED, f"step next: {why}; not sent")
    assert seen(api).targets == [] and seen(evil).targets == []


@pytest.mark.parametrize(
    ("template", "value", "url"),
    [
        ("https://api.example{{steps.a.v}}", "/orders/123", "https://api.example/orders/123"),
        ("https://api.example{{steps.a.v}}", "/a/../b\\c", "https://api.example/b%5Cc"),  # as a configured path
        ("https://api.example{{steps.a.v}}#top", "/o?q=1 2", "https://api.example/o?q=1+2#top"),
        ("http://10.0.0.1{{steps.a.v}}/x", "5", "http://10.0.0.15/x"),  # not a path: still the end of the host
        ("https://api{{steps.a.v}}/x", "-eu.example", "https://api-eu.example/x"),
    ],
)
def test_a_reference_right_after_the_host_takes_a_path_or_the_end_of_the_host(
    template: str, value: str, url: str
) -> None:
    assert Step(name="s", url=template).url == template
    assert str(UrlTemplate.parse(template).fill(lambda step, var: value)) == url
