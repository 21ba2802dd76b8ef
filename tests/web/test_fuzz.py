"""Arbitrary query strings and path segments against the API of a real daemon: never a 5xx."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yarl import URL

from tests.web.conftest import serving_daemon

ROUTES = [
    "/api/v1/endpoints",
    "/api/v1/endpoints/{name}",
    "/api/v1/endpoints/{name}/results",
    "/api/v1/endpoints/{name}/rollups",
    "/api/v1/incidents",
    "/api/v1/consumers",
    "/api/v1/alerts",
    "/api/v1/dependencies",
    "/api/v1/annotations",
    "/api/v1/consumers/{name}/gate",
    "/api/v1/consumers/shop/slos/{name}/gate",
    "/api/v1/consumers/{name}/annotations",
    "/",
    "/healthz",
    "/readyz",
    "/metrics",
]
KEYS = ["since", "until", "limit", "final_only", "endpoint", "consumer", "kind"]
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["nan", "-0", "1e300", "-1e-300", "0x10", "1_000", " 5", "5 ", "٣", "¹", "", "true", "up"]),
)
VALUES = st.one_of(NUMBERS, st.text(max_size=30))
WITH_PARAMETERS = ["/api/v1/endpoints/{name}/results", "/api/v1/endpoints/{name}/rollups", "/api/v1/incidents",
                   "/api/v1/annotations", "/api/v1/consumers/{name}/annotations"]  # fmt: skip
NAMES = st.one_of(
    st.sampled_from(["up", "down"]),
    st.sampled_from(["shop", "..", "%2F", "up/results", "UP", " up"]),
    st.text(min_size=1, max_size=30),
)
QUERY = st.lists(st.tuples(st.one_of(st.sampled_from(KEYS), st.text(max_size=10)), VALUES), max_size=4)
RAW_QUERY = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=60)  # request-line safe


def test_api_never_answers_5xx(tmp_path: Path) -> None:
    with asyncio.Runner() as runner:
        context = serving_daemon(tmp_path / "fuzz.db")
        daemon = runner.run(context.__aenter__())
        session = runner.run(_session())
        base = f"http://127.0.0.1:{daemon.bound_port}"
        try:

            async def fetch(url: URL) -> tuple[int, str, str]:
                async with session.get(url, allow_redirects=False) as r:
                    return r.status, r.content_type, await r.text()

            def check(url: URL) -> None:
                status, content_type, body = runner.run(fetch(url))
                assert status < 500, (str(url), status, body)
                if url.path.startswith("/api/") and status in (400, 404) and content_type == "application/json":
                    assert json.loads(body)["error"]
                if status == 200 and url.path.endswith("/results"):
                    assert len(json.loads(body)["results"]) <= 10_000

            @settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
            @given(route=st.one_of(st.sampled_from(WITH_PARAMETERS), st.sampled_from(ROUTES)), name=NAMES, query=QUERY)
            def structured(route: str, name: str, query: list[tuple[str, str]]) -> None:
                path = route.replace("{name}", name.replace("/", "%2F"))
                check(URL(base).with_path(path, encoded=False).with_query(query))

            @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
            @given(route=st.sampled_from(ROUTES), name=st.sampled_from(["up", "down", "x"]), raw=RAW_QUERY)
            def raw(route: str, name: str, raw: str) -> None:
                check(URL(base + route.replace("{name}", name) + "?" + raw.replace("#", "%23"), encoded=True))

            structured()
            raw()
        finally:
            runner.run(session.close())
            runner.run(context.__aexit__(None, None, None))


JSON = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.floats(), st.integers(min_value=-(10**20), max_value=10**20), st.text(max_size=20)
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=12,
)
FIELDS = st.sampled_from(["kind", "text", "consumer", "consumers", "endpoint", "endpoints", "time"])
BODIES = st.one_of(
    JSON,
    st.dictionaries(FIELDS, st.one_of(JSON, st.sampled_from(["deploy", "note", "shop", "up", "2026-12-01T10:00Z"]))),
)


def test_annotation_posts_never_answer_5xx(tmp_path: Path) -> None:
    """Any JSON body (or none) is stored (201) or refused with a 400 naming the field, never a 5xx."""
    with asyncio.Runner() as runner:
        context = serving_daemon(tmp_path / "fuzz.db")
        daemon = runner.run(context.__aenter__())
        session = runner.run(_session())
        url = f"http://127.0.0.1:{daemon.bound_port}/api/v1/annotations"
        try:

            async def post(data: bytes) -> tuple[int, str]:
                async with session.post(url, data=data) as r:
                    return r.status, await r.text()

            @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
            @given(body=st.one_of(BODIES.map(lambda b: json.dumps(b).encode()), st.binary(max_size=40)))
            def posts(body: bytes) -> None:
                status, text = runner.run(post(body))
                assert status in (201, 400), (body, status, text)
                if status == 400:
                    assert json.loads(text)["parameter"]

            posts()
        finally:
            runner.run(session.close())
            runner.run(context.__aexit__(None, None, None))


async def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession()
