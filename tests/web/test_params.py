"""Every query parameter of the API is checked: a bad one is a 400 naming it, never a 500 or a silent clamp."""

from __future__ import annotations

import json

import aiohttp
import pytest

from slowatch.daemon import Daemon


async def get(d: Daemon, path: str) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{d.bound_port}{path}") as r:
        assert r.content_type == "application/json"
        return r.status, json.loads(await r.text())


@pytest.mark.parametrize(
    ("path", "parameter", "allowed"),
    [
        ("/api/v1/endpoints/down/results?limit=-1", "limit", "whole number from 1 to 10000"),
        ("/api/v1/endpoints/down/results?limit=0", "limit", "whole number from 1 to 10000"),
        ("/api/v1/endpoints/down/results?limit=10001", "limit", "whole number from 1 to 10000"),
        ("/api/v1/endpoints/down/results?limit=nan", "limit", "whole number"),
        ("/api/v1/endpoints/down/results?limit=2.5", "limit", "whole number"),
        ("/api/v1/endpoints/down/results?limit=" + "9" * 5000, "limit", "whole number"),
        ("/api/v1/endpoints/down/results?since=nan", "since", "Unix time in seconds"),
        ("/api/v1/endpoints/down/results?since=inf", "since", "Unix time in seconds"),
        ("/api/v1/endpoints/down/results?since=-inf", "since", "Unix time in seconds"),
        ("/api/v1/endpoints/down/results?since=1e300", "since", "from 0 to 253402300799"),
        ("/api/v1/endpoints/down/results?until=nan", "until", "Unix time in seconds"),
        ("/api/v1/endpoints/down/results?since=20&until=10", "until", "must not be before since"),
        ("/api/v1/endpoints/down/results?final_only=maybe", "final_only", "1/true/yes or 0/false/no"),
        ("/api/v1/endpoints/down/results?limit=1&limit=2", "limit", "given more than once"),
        ("/api/v1/endpoints/down/results?limt=5", "limt", "accepts: since, until, limit, final_only"),
        ("/api/v1/endpoints/up/rollups?since=nan", "since", "Unix time in seconds"),
        ("/api/v1/endpoints/up/rollups?since=1e300", "since", "Unix time in seconds"),
        ("/api/v1/incidents?limit=-1", "limit", "whole number from 1 to 10000"),
        ("/api/v1/incidents?since=inf", "since", "Unix time in seconds"),
        ("/api/v1/endpoints?x=1", "x", "accepts: none"),
        ("/api/v1/consumers?verbose=1", "verbose", "accepts: none"),
        ("/api/v1/consumers/shop?consumer=other", "consumer", "accepts: none"),  # no widening, said as such
        # float() also reads other scripts' digits and `_` separators: since=%D9%A3 (Arabic-Indic 3) was 3 s (h15)
        ("/api/v1/incidents?since=%D9%A3", "since", "Unix time in seconds"),
        ("/api/v1/endpoints/down/results?until=1_700_000_000", "until", "Unix time in seconds"),
        ("/api/v1/annotations?since=%EF%BC%91", "since", "Unix time in seconds"),  # a fullwidth 1
    ],
)
async def test_bad_parameter_is_a_400_naming_it(daemon: Daemon, path: str, parameter: str, allowed: str) -> None:
    status, body = await get(daemon, path)
    assert status == 400, body
    assert body["parameter"] == parameter
    error = body["error"]
    assert isinstance(error, str) and error.startswith(f"{parameter}: ") and allowed in error


async def test_limit_is_honoured_and_never_bypassed(daemon: Daemon) -> None:
    for _ in range(3):
        await daemon.probe_all_once()
    await daemon.store.flush()
    status, body = await get(daemon, "/api/v1/endpoints/down/results?limit=2&final_only=true")
    assert status == 200 and len(body["results"]) == 2  # type: ignore[arg-type]
    status, body = await get(daemon, "/api/v1/endpoints/down/results?limit=10000&since=0&until=253402300799")
    assert status == 200 and len(body["results"]) == 6  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "what", "name"),
    [
        ("/api/v1/endpoints/nope", "endpoint", "nope"),
        ("/api/v1/endpoints/nope/results?limit=5", "endpoint", "nope"),
        ("/api/v1/endpoints/%C3%A9t%C3%A9/rollups", "endpoint", "été"),
        ("/api/v1/incidents?endpoint=nope", "endpoint", "nope"),
    ],
)
async def test_unknown_names_are_404_with_the_known_ones(daemon: Daemon, path: str, what: str, name: str) -> None:
    status, body = await get(daemon, path)
    assert status == 404
    assert body[what] == name
    assert body["error"] == f"no {what} named {name!r} (known: down, up)"


@pytest.mark.parametrize(
    "path", ["/api/v1/consumers/nope", "/api/v1/consumers/nope/gate", "/api/v1/consumers/nope/annotations"]
)
async def test_an_unknown_consumer_in_the_api_is_a_json_404(daemon: Daemon, path: str) -> None:
    status, body = await get(daemon, path)
    assert status == 404
    assert body == {"error": "no consumer named 'nope' (known: shop)", "consumer": "nope"}
