"""What a screen reader gets from the consumer page, read from Debian's chromium accessibility tree: each
chart is an image whose name says what it shows, not only what it is. Skipped without chromium/playwright."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.web.conftest import Builder
from tests.web.test_browser import CHROMIUM, browser, open_page

__all__ = ["browser"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"),
]


async def test_each_chart_is_named_with_what_it_shows(build: Builder, browser: Any) -> None:
    """The day bars were named "availability: one bar per UTC day" and the burn-down "...: budget remaining
    from X to Y": the 90 days' states and the budget left were only in the (hidden) titles of their marks."""
    daemon = await build()
    page, response, problems = await open_page(browser, f"http://127.0.0.1:{daemon.bound_port}/consumers/checkout")
    assert response.status == 200 and problems == []
    tree = await page.locator("main").aria_snapshot()
    names = re.findall(r'img "([^"]*)"', tree)
    days = [n for n in names if "one bar per UTC day" in n]
    assert len(days) == 4, tree  # 2 SLOs, 2 endpoints
    for name in days:
        counts = [int(n) for n in re.findall(r"(\d+) (?:met the objective|missed|no data|maintenance)", name)]
        assert sum(counts) == 90, name
    assert "availability: one bar per UTC day, last 90 days: " in days[0]
    burn = [n for n in names if "budget remaining" in n]
    assert len(burn) == 2 and all(re.search(r"budget left \d+(\.\d+)?%$", n) for n in burn), burn
    await page.context.close()


async def test_every_page_names_its_language(build: Builder, browser: Any) -> None:
    """A screen reader picks its voice from <html lang>: the status page had none (WCAG 3.1.1)."""
    daemon = await build()
    base = f"http://127.0.0.1:{daemon.bound_port}"
    for path in ("/", "/consumers/checkout", "/consumers/checkout/report"):
        page, response, problems = await open_page(browser, base + path)
        assert response.status == 200 and problems == []
        assert await page.evaluate("document.documentElement.lang") == "en", path
        await page.context.close()
