"""Contrast of what a person reads (WCAG 2 AA: 4.5:1, 3:1 for large text), measured in Debian's chromium
on the computed styles: the status page, consumer pages, the report, every state pill and every badge colour.
Skipped without chromium/playwright."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from slowatch.web.badges import COLORS, badge_svg
from slowatch.web.consumer_html import STYLE
from tests.web.conftest import Builder
from tests.web.test_browser import CHROMIUM, browser, open_page

__all__ = ["browser"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"),
]

LOW_CONTRAST = (Path(__file__).parent / "contrast.js").read_text()
"""A function of the page: [text, colour, background, ratio] of each element whose text is below AA."""


async def test_the_pages_text_has_aa_contrast(build: Builder, browser: Any) -> None:
    """The status page's grey (#8c959f on white: 3.0:1) for targets, ages and links failed AA."""
    daemon = await build()
    base = f"http://127.0.0.1:{daemon.bound_port}"
    for path in ("/", "/consumers/checkout", "/consumers/partner", "/consumers/checkout/report"):
        page, response, problems = await open_page(browser, base + path)
        assert response.status == 200 and problems == []
        low = await page.evaluate(LOW_CONTRAST)
        assert low == [], (path, low[:5])
        await page.context.close()


async def test_every_state_pill_and_badge_colour_has_aa_contrast(browser: Any) -> None:
    """White 13 px bold on the state pills' green (#2da44e: 3.2:1), amber (#bf8700: 3.1:1) and grey (#8c959f:
    3.0:1) failed AA, and so did the badges' 11 px white on the same colours."""
    pills = "".join(f"<span class='state st-{s}'>{s}</span> " for s in ("ok", "burning", "exhausted", "collecting"))
    badges = "".join(badge_svg("shop availability", state, color) for state, color in COLORS.items())
    page = await browser.new_page()
    await page.set_content(f"<style>{STYLE}</style><main>{pills}<span class='state st-no-data'>no data</span></main>")
    low = await page.evaluate(LOW_CONTRAST)
    assert low == [], low
    await page.set_content(f"<main>{badges}</main>")
    ratios = await page.evaluate(
        """() => [...document.querySelectorAll('svg')].map(svg => {
            const lum = h => { const v = [1, 3, 5].map(i => parseInt(h.slice(i, i + 2), 16) / 255)
                .map(c => c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4));
                return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
            const fill = svg.querySelectorAll('rect')[1].getAttribute('fill');
            return [fill, 1.05 / (lum(fill) + 0.05)]; })"""
    )
    assert len(ratios) == len(COLORS) and all(r >= 4.5 for _, r in ratios), ratios
    await page.close()


PRINTED = """() => [...document.querySelectorAll('.state, .key i')].map(e => {
    const s = getComputedStyle(e);
    const kept = (s.printColorAdjust || s.webkitPrintColorAdjust) === 'exact';  // else print drops backgrounds
    return [e.className || e.parentElement.textContent, kept, s.color, s.backgroundColor];
})"""


async def test_the_printed_page_keeps_its_state_pills_and_legend(build: Builder, browser: Any) -> None:
    """Printing drops CSS backgrounds unless told not to: the consumer page had no print style at all, so its
    state pills printed white text on white paper and the day bars' legend as empty boxes."""
    daemon = await build()
    page, response, problems = await open_page(browser, f"http://127.0.0.1:{daemon.bound_port}/consumers/checkout")
    assert response.status == 200 and problems == []
    await page.emulate_media(media="print")
    marks = await page.evaluate(PRINTED)
    assert len(marks) >= 2 + 5 and all(kept for _, kept, _, _ in marks), marks
    assert await page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(255, 255, 255)"
    await page.context.close()
