"""What an outside audit of the HTTP face found (session h10): each case failed before its fix.

Every route answers a bad request with a 4xx that says what is wrong, never a 500: the JSON API's
routes *and* the pages, the report, badges, the rules and the corrections log take only their own
query parameters, each at most once (`?month=2026-01&month=zz` used to read the first and ignore the
second; `/api/v1/prometheus/rules?x=1` used to ignore `x`).
"""

from __future__ import annotations

import json

import aiohttp
import pytest

from slowatch.daemon import Daemon


async def request(d: Daemon, method: str, path: str, body: bytes = b"") -> tuple[int, str, str]:
    url = f"http://127.0.0.1:{d.bound_port}{path}"
    async with aiohttp.ClientSession() as s, s.request(method, url, data=body) as r:
        return r.status, r.content_type, await r.text()


@pytest.mark.parametrize(
    ("path", "parameter", "message"),
    [
        ("/consumers/shop/report?month=2026-01&month=zz", "month", "given more than once"),
        ("/consumers/shop/report?mnth=2026-01", "mnth", "accepts: month"),
        ("/consumers/shop?month=2026-01", "month", "accepts: none"),
        ("/badges/shop/availability.svg?show=sli&show=zz", "show", "given more than once"),
        ("/badges/shop/availability.svg?shw=sli", "shw", "accepts: show"),
        ("/api/v1/prometheus/rules?format=json", "format", "accepts: none"),
        ("/api/v1/corrections?consumer=shop", "consumer", "accepts: none"),
        ("/api/v1/corrections?token=a&token=b", "token", "given more than once"),
        ("/badges/shop/availability.svg?show=", "show", "must be one of budget, sli"),
    ],
)
async def test_every_route_refuses_unknown_and_repeated_parameters(
    daemon: Daemon, path: str, parameter: str, message: str
) -> None:
    status, content_type, text = await request(daemon, "GET", path)
    assert status == 400, (path, status, text[:200])
    assert content_type == "application/json"
    body = json.loads(text)
    assert body["parameter"] == parameter and message in body["error"], body


async def test_the_pages_still_take_their_own_parameters(daemon: Daemon) -> None:
    for path in ("/consumers/shop", "/consumers/shop/report?month=2026-01", "/badges/shop/availability.svg?show=sli",
                 "/api/v1/prometheus/rules", "/api/v1/corrections", "/consumers/shop?token=whatever"):  # fmt: skip
        status, _, text = await request(daemon, "GET", path)
        assert status == 200, (path, text[:200])


@pytest.mark.parametrize("number", ["9" * 400, "-" + "9" * 400, "1e400", "NaN", "-Infinity"])
async def test_a_correction_time_too_large_for_a_float_is_a_400(daemon: Daemon, number: str) -> None:
    """A 400-digit integer is valid JSON that `float()` cannot hold: it was an OverflowError (500)."""
    body = f'{{"consumer": "shop", "from": {number}, "to": 1, "reason": "a hostile number"}}'.encode()
    status, _, text = await request(daemon, "POST", "/api/v1/corrections", body)
    assert status == 400, text[:300]
    assert "from: " in json.loads(text)["error"]


@pytest.mark.parametrize("path", ["/api/v1/corrections", "/api/v1/corrections/1/revoke", "/api/v1/annotations"])
async def test_a_deeply_nested_json_body_is_a_400(daemon: Daemon, path: str) -> None:
    """100,000 nested objects (600 kB, under the 1 MiB body limit) exhaust json's recursion: a RecursionError (500)."""
    body = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    status, _, text = await request(daemon, "POST", path, body)
    assert status == 400, text[:300]
    assert "JSON object" in json.loads(text)["error"]
