"""The charts' words on a 375 px phone, in Debian's chromium: at least 11 CSS px, and no page wider than the
screen; on a 1280 px screen and in print the same labels sit at their lines. Skipped without chromium/playwright.

The burn-down's axis labels were SVG text, scaled down with the chart: ~7 px on a phone. Keeps a screenshot
of a burn-down per size under $TMPDIR as a test artifact."""

from __future__ import annotations

from typing import Any

import pytest

from slowatch.slo.timeline import BurnDown
from slowatch.web.charts import burn_down_svg
from slowatch.web.consumer_html import STYLE
from tests.web.conftest import Builder
from tests.web.test_browser import ARTIFACTS, CHROMIUM, browser

__all__ = ["browser"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"),
]

PAGES = ("/", "/consumers/checkout", "/consumers/checkout/report?month=2026-11")

WORDS = """() => [...document.querySelectorAll('svg.burndown text, .burnchart span, .burnchart p')].map(e => {
    const scale = e instanceof SVGElement ? e.getScreenCTM().d : 1;  // SVG text shrinks with its chart
    const box = e.getBoundingClientRect();
    return {text: e.textContent, px: parseFloat(getComputedStyle(e).fontSize) * scale, height: box.height,
            middle: box.top + box.height / 2, y: e.closest('.yaxis') !== null};
})"""

LINES = """() => [...document.querySelectorAll('svg.burndown > line:not(.ideal):not(.now)')].map(
    l => l.getBoundingClientRect().top)"""


async def words_at(browser: Any, url: str, width: int, height: int, media: str = "screen") -> tuple[Any, Any]:
    context = await browser.new_context(viewport={"width": width, "height": height})
    page = await context.new_page()
    await page.emulate_media(media=media)
    response = await page.goto(url)
    assert response.status == 200
    return page, await page.evaluate(WORDS)


async def test_chart_labels_read_on_a_phone_and_no_page_overflows(build: Builder, browser: Any) -> None:
    daemon = await build()
    base = f"http://127.0.0.1:{daemon.bound_port}"
    for path in PAGES:
        page, words = await words_at(browser, base + path, 375, 812)
        overflow = await page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (path, overflow)
        if path != "/":  # the overview has no chart
            assert len(words) >= 4, (path, words)
            small = [w for w in words if w["px"] < 11 or w["height"] < 11]
            assert small == [], (path, small)
        await page.context.close()


@pytest.mark.parametrize(
    ("width", "height", "media"), [(375, 812, "screen"), (1280, 800, "screen"), (1280, 800, "print")]
)
async def test_axis_labels_sit_at_their_lines(
    build: Builder, browser: Any, width: int, height: int, media: str
) -> None:
    daemon = await build()
    page, words = await words_at(
        browser, f"http://127.0.0.1:{daemon.bound_port}/consumers/checkout", width, height, media
    )
    lines = await page.evaluate(LINES)
    labels = [w for w in words if w["y"]]
    assert len(labels) >= 3 * 2  # 100%, 50%, 0% on each of the two burn-downs
    for label in labels:  # each label's middle within 2 px of a grid line's
        assert min(abs(label["middle"] - top) for top in lines) <= 2, (label, lines)
    chart = await page.locator("svg.burndown").first.bounding_box()
    assert chart["width"] > min(width, 980) * 0.7 and chart["height"] >= 150, chart  # wide, and not squashed
    await page.locator(".burnchart").first.screenshot(path=str(ARTIFACTS / f"slowatch-burndown-{width}-{media}.png"))
    await page.context.close()


def burn_downs() -> str:
    """A page of three burn-downs as the consumer page renders them: a line, one collecting data, one empty."""
    day = 86400.0
    line = BurnDown(0.0, 7 * day, 7 * day, ((0.0, 1.0), (3 * day, 0.6), (7 * day, -0.2)), 10.0, 12, (), ())
    collecting = BurnDown(0.0, 7 * day, 2 * day, ((0.0, 1.0), (2 * day, 1.0)), 0.3, 0, (), (), True, 30)
    empty = BurnDown(0.0, 7 * day, 2 * day, (), 0.0, 0, (), ())
    charts = "".join(f"<div class='card'>{burn_down_svg(b, name)}</div>" for b, name in
                     ((line, "line"), (collecting, "collecting"), (empty, "empty")))  # fmt: skip
    return f"<!doctype html><meta name='viewport' content='width=device-width'><style>{STYLE}</style><main>{charts}"


LAYOUT = """() => [...document.querySelectorAll('.burnchart')].map(c => {
    const box = s => { const e = c.querySelector(s); return e && e.getBoundingClientRect().toJSON(); };
    return {chart: c.getBoundingClientRect().toJSON(), svg: box('svg'), y: box('.yaxis'), x: box('.xaxis'),
            note: box('.note')};
})"""


@pytest.mark.parametrize("width", [375, 1280])
async def test_a_line_a_collecting_chart_and_an_empty_one_lay_out_alike(browser: Any, width: int) -> None:
    """The words sit around the SVG whatever it holds (a note once pushed a collecting chart's SVG into
    the labels' column, under it)."""
    context = await browser.new_context(viewport={"width": width, "height": 900})
    page = await context.new_page()
    await page.set_content(burn_downs())
    layouts = await page.evaluate(LAYOUT)
    assert len(layouts) == 3
    for i, b in enumerate(layouts):
        assert b["svg"]["width"] > 0.7 * b["chart"]["width"], (i, b)  # the SVG has the wide column
        assert abs(b["y"]["top"] - b["svg"]["top"]) < 1 and b["y"]["right"] <= b["svg"]["left"], (i, b)
        assert abs(b["x"]["left"] - b["svg"]["left"]) < 1 and b["x"]["top"] >= b["svg"]["bottom"] - 1, (i, b)
        if b["note"]:
            assert b["svg"]["top"] <= b["note"]["top"] and b["note"]["bottom"] <= b["svg"]["bottom"], (i, b)
    assert [b["note"] is not None for b in layouts] == [False, True, True]
    small = [w for w in await page.evaluate(WORDS) if w["px"] < 11 or w["height"] < 11]
    assert small == []
    await context.close()
