"""The consumer page's dependency tree, deploy marks and gate line in a real browser (Debian's chromium),
at desktop and phone width. Skipped when chromium or playwright is absent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from slowatch.clock import FakeClock
from slowatch.config import load_text
from slowatch.daemon import Daemon
from tests.web.conftest import OUTAGE, T0, config_text, feed
from tests.web.test_annotations import post
from tests.web.test_browser import ARTIFACTS, CHROMIUM, browser, open_page

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"),
]
__all__ = ["browser"]  # the fixture, imported to be used here


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    text = (
        config_text(tmp_path)
        .replace(
            '{name: pay, kind: http, url: "http://127.0.0.1:9/pay"}',
            '{name: pay, kind: http, url: "http://127.0.0.1:9/pay", depends_on: [cat]}',
        )
        .replace(
            "{name: availability, sli: availability, objective: 99, window: 7d}",
            "{name: availability, sli: availability, objective: 99, window: 7d, policy: {freeze_below: 50%}}",
        )
    )
    clock = FakeClock(T0 - 60)
    d = Daemon(load_text(text, env={}), clock=clock)
    await d.start(schedule=False)
    try:
        await feed(d, clock)
        yield d
    finally:
        await d.stop()


async def test_tree_marks_and_gate_render_on_desktop_and_phone(daemon: Daemon, browser: Any) -> None:
    await post(daemon, {"kind": "deploy", "text": "pay v142", "consumer": "checkout", "time": OUTAGE[0] - 1800})
    url = f"http://127.0.0.1:{daemon.bound_port}/consumers/checkout"
    for width in (1100, 390):
        page, response, problems = await open_page(browser, url, width=width)
        assert response.status == 200
        tree = page.locator(".deps .tree")
        assert await tree.locator("li").count() == 2  # pay, and cat under it
        assert "pay up" in (await tree.inner_text()).replace("\n", " ")
        marks = page.locator("svg.burndown g.mark.deploy")
        assert await marks.count() == 2  # on both SLOs' charts
        box = await marks.first.bounding_box()
        assert box is not None and box["height"] > 50  # drawn across the chart, not collapsed
        gate = page.locator("p.gate")
        assert await gate.count() == 1 and "deploys on hold" in await gate.inner_text()  # 71% of it spent
        overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0 and problems == []
        await page.screenshot(path=str(ARTIFACTS / f"slowatch-consumer-deps-{width}.png"), full_page=True)
        await page.context.close()
