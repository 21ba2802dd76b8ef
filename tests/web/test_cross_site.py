"""A web page the operator happens to open may not write to slowatch through the operator's browser.

Without `server.auth` (local use, the default 127.0.0.1 listener) every route is open to whoever reaches
the port, and a browser tab reaches it: a page on any site could `fetch(..., {mode: "no-cors"})` or submit
a `text/plain` form to `POST /api/v1/corrections` (the body is read as JSON whatever its Content-Type),
a "simple request" browsers send without asking, and erase an outage from a budget. Writes that a browser
marks as coming from another origin (`Origin`, `Sec-Fetch-Site`) are refused; curl, CI and `slowatch
annotate` send neither header and are unaffected.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from slowatch.daemon import Daemon
from tests.web.conftest import OUTAGE, Builder, fetch
from tests.web.test_browser import ARGS, CHROMIUM

NOTE = {"kind": "note", "text": "written by another site"}


def correction() -> dict[str, Any]:
    return {"consumer": "checkout", "from": OUTAGE[0], "to": OUTAGE[1], "reason": "not our fault, says another site"}


async def post(daemon: Daemon, path: str, body: object, headers: dict[str, str]) -> tuple[int, str]:
    url = f"http://127.0.0.1:{daemon.bound_port}{path}"
    async with aiohttp.ClientSession() as s, s.post(url, data=json.dumps(body), headers=headers) as r:
        return r.status, await r.text()


async def stored(daemon: Daemon) -> tuple[list[Any], list[Any]]:
    _, _, notes = await fetch(daemon, "/api/v1/annotations")
    _, _, corrections = await fetch(daemon, "/api/v1/corrections")
    return json.loads(notes)["annotations"], json.loads(corrections)["corrections"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example", "Content-Type": "text/plain;charset=UTF-8"},
        {"Origin": "null", "Content-Type": "text/plain"},
        {"Sec-Fetch-Site": "cross-site", "Content-Type": "application/x-www-form-urlencoded"},
        {"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:1"},
    ],
)
async def test_a_write_another_origin_sends_is_refused_and_records_nothing(
    build: Builder, headers: dict[str, str]
) -> None:
    daemon = await build()  # no server.auth: everything open to this host's processes, not to other sites
    for path, body in (("/api/v1/annotations", NOTE), ("/api/v1/corrections", correction()),
                       ("/api/v1/corrections/1/revoke", {"reason": "another site"})):  # fmt: skip
        status, text = await post(daemon, path, body, headers)
        assert status == 403 and json.loads(text)["error"].startswith("cross-site"), (path, status, text)
    assert await stored(daemon) == ([], [])


async def test_curl_the_cli_and_the_same_origin_still_write(build: Builder) -> None:
    daemon = await build()
    port = daemon.bound_port
    for headers in ({}, {"Origin": f"http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin"}):
        assert (await post(daemon, "/api/v1/annotations", NOTE, headers))[0] == 201
    assert (await post(daemon, "/api/v1/corrections", correction(), {"Sec-Fetch-Site": "none"}))[0] == 201
    notes, corrections = await stored(daemon)
    assert len(notes) == 2 and len(corrections) == 1
    # Reads are not writes: a cross-site GET still answers (a browser keeps the answer from the other page).
    url, origin = f"http://127.0.0.1:{port}/api/v1/annotations", {"Origin": "http://evil.example"}
    async with aiohttp.ClientSession() as s, s.get(url, headers=origin) as r:
        assert r.status == 200


async def test_a_browser_write_by_host_name_without_auth_is_refused_as_dns_rebinding(build: Builder) -> None:
    """DNS rebinding: a page on http://evil.example:PORT whose name the attacker then points at 127.0.0.1 is
    same-origin with the daemon (its browser says `same-origin`, its Origin is its Host): it could silence pages
    or erase outages. Without server.auth a browser's write must name the daemon by address or `localhost`.

    A loopback daemon answers no other name at all (421, tests/web/test_dns_rebinding.py); one the operator allows
    (`server.http.allowed_hosts`, here `monitor.example`) is read, and a browser's write to it is still refused."""
    daemon = await build(auth="  http: {allowed_hosts: [monitor.example]}")
    port = daemon.bound_port
    for name, refused in (("evil.example", 421), ("monitor.example", 403)):
        rebound = {"Host": f"{name}:{port}", "Origin": f"http://{name}:{port}", "Sec-Fetch-Site": "same-origin"}
        for path, body in (("/api/v1/annotations", NOTE), ("/api/v1/corrections", correction())):
            status, text = await post(daemon, path, body, rebound)
            assert status == refused and "DNS rebinding" in json.loads(text)["error"], (path, status, text)
            status, text = await post(daemon, path, body, {"Host": f"{name}:{port}", "Origin": f"http://{name}:{port}"})
            assert status == refused, (path, status, text)
    assert await stored(daemon) == ([], [])
    for host in (f"localhost:{port}", f"app.localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"):
        headers = {"Host": host, "Origin": f"http://{host}", "Sec-Fetch-Site": "same-origin"}
        assert (await post(daemon, "/api/v1/annotations", NOTE, headers))[0] == 201, host
    assert (await post(daemon, "/api/v1/annotations", NOTE, {"Host": f"monitor.example:{port}"}))[0] == 201  # curl
    assert len((await stored(daemon))[0]) == 5


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
async def test_a_page_on_another_site_opened_in_chromium_writes_nothing(build: Builder) -> None:
    playwright_api = pytest.importorskip("playwright.async_api")
    daemon = await build()
    target = f"http://127.0.0.1:{daemon.bound_port}"
    script = f"""
      const send = (path, body) =>
        fetch("{target}" + path, {{method: "POST", mode: "no-cors", body: JSON.stringify(body)}});
      Promise.all([send("/api/v1/annotations", {json.dumps(NOTE)}),
                   send("/api/v1/corrections", {json.dumps(correction())})])
        .then(() => {{ document.title = "sent"; }}, () => {{ document.title = "sent"; }});
    """  # fmt: skip

    async def evil(request: web.Request) -> web.Response:
        return web.Response(text=f"<!doctype html><title>cat pictures</title><script>{script}</script>",
                            content_type="text/html")  # fmt: skip

    app = web.Application()
    app.router.add_get("/", evil)
    site = TestServer(app, host="localhost")  # another origin (and site) than 127.0.0.1:<daemon>
    await site.start_server()
    try:
        async with playwright_api.async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = await browser.new_page()
                await page.goto(f"http://localhost:{site.port}/")
                await page.wait_for_function("document.title === 'sent'", timeout=30_000)
            finally:
                await browser.close()
    finally:
        await site.close()
    await asyncio.sleep(0)
    assert await stored(daemon) == ([], [])


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
async def test_a_same_origin_page_behind_a_proxy_that_rewrites_host_still_writes_in_chromium(build: Builder) -> None:
    """Behind a reverse proxy that sends its upstream's address as Host (nginx's default, `$proxy_host`), the
    Origin a browser sends (the public host) never equals the Host slowatch sees: every browser write, even
    from a page of slowatch's own public origin (an internal portal proxied on the same host), was refused.
    A browser that sends Sec-Fetch-Site says where the request came from whatever the proxy did to Host."""
    playwright_api = pytest.importorskip("playwright.async_api")
    daemon = await build()
    upstream = f"http://127.0.0.1:{daemon.bound_port}"
    script = f"""
      fetch("/api/v1/annotations", {{method: "POST", headers: {{"Content-Type": "application/json"}},
                                     body: JSON.stringify({json.dumps(NOTE)})}})
        .then(r => {{ document.title = "status " + r.status; }}, e => {{ document.title = "error " + e; }});
    """  # fmt: skip

    async def portal(request: web.Request) -> web.Response:
        return web.Response(text=f"<!doctype html><title>portal</title><script>{script}</script>",
                            content_type="text/html")  # fmt: skip

    async def proxy(request: web.Request) -> web.Response:  # forwards with Host: the upstream's, as nginx does
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        body = await request.read()
        async with aiohttp.ClientSession() as s:
            r = await s.request(request.method, upstream + request.path_qs, headers=headers, data=body)
            async with r:
                return web.Response(status=r.status, body=await r.read(), content_type=r.content_type)

    app = web.Application()
    app.router.add_get("/portal", portal)
    app.router.add_route("*", "/api/{tail:.*}", proxy)
    site = TestServer(app, host="127.0.0.1")
    await site.start_server()
    try:
        async with playwright_api.async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = await browser.new_page()
                await page.goto(f"http://127.0.0.1:{site.port}/portal")
                await page.wait_for_function("document.title !== 'portal'", timeout=30_000)
                title = await page.title()
            finally:
                await browser.close()
    finally:
        await site.close()
    assert title == "status 201"
    notes, _ = await stored(daemon)
    assert [n["text"] for n in notes] == [NOTE["text"]]
