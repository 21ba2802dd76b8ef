"""Hostile request headers on every route of a real daemon (session h15's outside audit): never a 5xx.

`Accept: application/openmetrics-text; version=x` made prometheus-client's `choose_encoder` compare 'x'
with 0 (a TypeError: a 500 for every such scrape); a version that is not dotted whole numbers is now a
media range slowatch does not offer, and the scrape falls back to the next one (else the text format).
"""

from __future__ import annotations

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from slowatch.daemon import Daemon


async def scrape(daemon: Daemon, accept: str) -> tuple[int, str, str]:
    url = f"http://127.0.0.1:{daemon.bound_port}/metrics"
    async with aiohttp.ClientSession() as s, s.get(url, headers={"Accept": accept}) as r:
        return r.status, r.headers.get("Content-Type", ""), await r.text()


@pytest.mark.parametrize(
    ("accept", "served"),
    [
        ("application/openmetrics-text; version=x", "text/plain; version=0.0.4"),
        ("text/plain; version=x", "text/plain; version=0.0.4"),
        ("text/plain;version=1.x", "text/plain; version=0.0.4"),
        ("application/openmetrics-text;version=1.0.0.x", "text/plain; version=0.0.4"),
        ("application/openmetrics-text; version=x, application/openmetrics-text; version=1.0.0",
         "application/openmetrics-text; version=1.0.0"),
    ],
)  # fmt: skip
async def test_a_scrape_asking_for_a_version_that_is_no_number_gets_a_format_it_can_read(
    daemon: Daemon, accept: str, served: str
) -> None:
    status, content_type, body = await scrape(daemon, accept)
    assert status == 200, (accept, body[:300])
    assert content_type.startswith(served), content_type
    if served.startswith("text/plain"):
        assert any(f.name == "slowatch_probe_success" for f in text_string_to_metric_families(body))
    else:
        assert body.rstrip().endswith("# EOF")
