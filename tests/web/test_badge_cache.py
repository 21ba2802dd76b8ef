"""A badge (`/badges/{consumer}/{slo}.svg`) is fetched over and over by README renderers and image proxies:
it carries an ETag of its content and answers a revalidation whose ETag still matches with a bodiless 304."""

from __future__ import annotations

import aiohttp

from tests.web.conftest import Builder

BADGE = "/badges/checkout/availability.svg"


async def test_a_badge_has_an_etag_and_an_unchanged_one_is_a_304(build: Builder) -> None:
    daemon = await build()
    base = f"http://127.0.0.1:{daemon.bound_port}"
    async with aiohttp.ClientSession() as s:
        async with s.get(base + BADGE) as r:
            assert r.status == 200 and r.content_type == "image/svg+xml"
            etag, svg = r.headers.get("ETag"), await r.text()
            assert r.headers.get("Cache-Control") == "max-age=60"
        assert etag is not None and etag.startswith('W/"') and etag.endswith('"'), etag
        async with s.get(base + BADGE, headers={"If-None-Match": etag}) as r:
            assert r.status == 304 and await r.read() == b""
            assert r.headers.get("ETag") == etag and r.headers.get("Cache-Control") == "max-age=60"
        async with s.get(base + BADGE, headers={"If-None-Match": f'"other", {etag}'}) as r:
            assert r.status == 304  # one of a list
        async with s.get(base + BADGE, headers={"If-None-Match": '"other"'}) as r:
            assert r.status == 200 and await r.text() == svg
        async with s.get(base + BADGE + "?show=sli", headers={"If-None-Match": etag}) as r:
            assert r.status == 200 and r.headers.get("ETag") not in (None, etag)  # another content, another tag
        async with s.get(base + BADGE + "?show=nonsense", headers={"If-None-Match": etag}) as r:
            assert r.status == 400  # a bad parameter is still one
