"""The pages in a real browser: Debian's chromium driven by Playwright (no browser download).

Skipped when chromium or playwright is absent. Keeps screenshots of the checkout page (desktop and
phone width) under $TMPDIR as test artifacts.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import HOURS, Builder
from tests.web.test_access import AUTH, CHECKOUT, CHECKOUT_ACCESS, OPERATOR

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
ARTIFACTS = Path(tempfile.gettempdir())

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"),
]


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    playwright_api = pytest.importorskip("playwright.async_api")
    async with playwright_api.async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            await b.close()


async def open_page(
    browser: Any, url: str, *, width: int = 1100, token: str | None = None
) -> tuple[Any, Any, list[str]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    context = await browser.new_context(viewport={"width": width, "height": 900}, extra_http_headers=headers)
    page = await context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    response = await page.goto(url)
    return page, response, problems


async def test_overview_and_consumer_page_render_in_chromium(build: Builder, browser: Any) -> None:
    daemon = await build(auth=AUTH, checkout_access=CHECKOUT_ACCESS)
    base = f"http://127.0.0.1:{daemon.bound_port}"

    page, response, problems = await open_page(browser, f"{base}/", token=OPERATOR)
    assert response.status == 200 and problems == []
    links = await page.eval_on_selector_all("a[href^='/consumers/']", "els => els.map(e => e.getAttribute('href'))")
    assert "/consumers/checkout" in links and "/consumers/partner" in links
    await page.context.close()

    # Without the token the page is refused; with it, it renders without console errors.
    page, response, problems = await open_page(browser, f"{base}/consumers/checkout")
    assert response.status == 401
    await page.context.close()
    page, response, problems = await open_page(browser, f"{base}/consumers/checkout?token={CHECKOUT}")
    assert response.status == 200
    assert await page.title() == "checkout · slowatch"
    charts = page.locator("svg.burndown")
    assert await charts.count() == 2
    for i in range(2):
        chart = charts.nth(i)
        expected = int(await chart.get_attribute("data-points"))
        coords = (await chart.locator("polyline.burn").get_attribute("points")).split()
        assert len(coords) == expected == HOURS - 2 + 1  # an hour per point, but the 2 maintenance hours
        box = await chart.bounding_box()
        assert box["width"] > 500 and box["height"] > 100  # really laid out, not collapsed
    assert await page.locator("svg.days").count() == 4
    assert await page.locator("svg.days rect.day").count() == 4 * 90
    assert "1h" in await page.locator("table.incidents").inner_text()
    await page.screenshot(path=str(ARTIFACTS / "slowatch-consumer-page.png"), full_page=True)
    assert problems == []
    await page.context.close()

    # A phone: nothing wider than the screen but the scrollable tables.
    page, response, problems = await open_page(browser, f"{base}/consumers/checkout?token={CHECKOUT}", width=390)
    overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0 and problems == []
    await page.screenshot(path=str(ARTIFACTS / "slowatch-consumer-page-phone.png"), full_page=True)
    await page.context.close()


async def test_report_renders_and_prints(build: Builder, browser: Any) -> None:
    daemon = await build()
    url = f"http://127.0.0.1:{daemon.bound_port}/consumers/checkout/report?month=2026-11"
    page, response, problems = await open_page(browser, url)
    assert response.status == 200
    assert re.search(r"Kept its promise", await page.locator("p.summary").first.inner_text())
    pdf = await page.pdf()
    assert pdf.startswith(b"%PDF") and problems == []
    await page.context.close()
