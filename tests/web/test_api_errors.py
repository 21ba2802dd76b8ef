"""Every error under `/api/` has a JSON body, `{"error": ...}`, with the status and headers it had: a missing
or refused token (401 with its `WWW-Authenticate`, 403), an unknown path (404), a method the route does
not take (405 with `Allow`), a body over the 1 MB limit (413). They were aiohttp's plain text, which a
client parsing the API's errors as JSON could not read. Pages keep their plain text."""

from __future__ import annotations

import io
import json

import aiohttp

from tests.web.conftest import Builder
from tests.web.test_access import AUTH, CHECKOUT, CHECKOUT_ACCESS, OPERATOR


async def test_every_api_error_is_json_with_its_headers(build: Builder) -> None:
    daemon = await build(auth=AUTH, checkout_access=CHECKOUT_ACCESS)
    base = f"http://127.0.0.1:{daemon.bound_port}"
    cases = [
        ("GET", "/api/v1/endpoints", None, 401, "WWW-Authenticate"),
        ("GET", "/api/v1/endpoints", CHECKOUT, 403, None),
        ("GET", "/api/v1/consumers/ghost", CHECKOUT, 403, None),
        ("GET", "/api/v1/no-such-route", OPERATOR, 404, None),
        ("PUT", "/api/v1/endpoints", OPERATOR, 405, "Allow"),
        ("DELETE", "/api/v1/corrections", OPERATOR, 405, "Allow"),
        ("POST", "/api/v1/annotations", OPERATOR, 413, None),
    ]
    async with aiohttp.ClientSession() as s:
        for method, path, token, status, header in cases:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            body = io.BytesIO(b" " * (2 << 20)) if status == 413 else None
            async with s.request(method, base + path, headers=headers, data=body) as r:
                text = await r.text()
                assert (r.status, r.content_type) == (status, "application/json"), (method, path, text)
                assert isinstance(json.loads(text)["error"], str) and json.loads(text)["error"], text
                assert header is None or r.headers.get(header), (path, dict(r.headers))
                assert token is None or token not in text
        async with s.get(base + "/consumers/ghost", headers={"Authorization": f"Bearer {CHECKOUT}"}) as r:
            assert r.status == 403 and r.content_type == "text/plain"  # a page: plain text as before
