"""Names as long as the config allows (128 characters, no spaces) on a 390 px phone, in Debian's chromium:
no page is wider than the screen (tables scroll inside their card). Skipped without chromium/playwright."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from slowatch.clock import FakeClock
from slowatch.config import load_text
from slowatch.daemon import Daemon
from slowatch.models import Outcome, ProbeResult
from tests.web.conftest import T0
from tests.web.test_browser import CHROMIUM, browser, open_page

__all__ = ["browser"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"),
]

ENDPOINT = "ep-" + "x" * 125
CONSUMER = "c-" + "y" * 126
SLO = "s-" + "z" * 126


@pytest.fixture
async def long_names(tmp_path: Path) -> AsyncIterator[Daemon]:
    config = load_text(
        f"""
server: {{listen: "127.0.0.1:0", database: "{tmp_path / "long.db"}"}}
endpoints: [{{name: {ENDPOINT}, kind: http, url: "http://127.0.0.1:9/long"}}]
consumers:
  - name: {CONSUMER}
    endpoints: [{ENDPOINT}]
    slos: [{{name: {SLO}, sli: availability, objective: 99, window: 7d}}]
""",
        env={},
    )
    clock = FakeClock(T0 - 60)
    daemon = Daemon(config, clock=clock)
    await daemon.start(schedule=False)
    try:
        for ts in range(int(T0), int(T0) + 86400, 600):  # down for its first hour, up since
            clock.set(ts)
            outcome = Outcome.CONNECTION_REFUSED if ts < T0 + 3600 else Outcome.SUCCESS
            daemon.on_result(ProbeResult(ENDPOINT, "http", outcome, ts, 0.05, message="refused"))
        clock.set(T0 + 86400)
        daemon._slo.refresh()
        await daemon.store.flush()
        yield daemon
    finally:
        await daemon.stop()


async def test_long_names_fit_a_phone(long_names: Daemon, browser: Any) -> None:
    base = f"http://127.0.0.1:{long_names.bound_port}"
    for path in ("/", f"/consumers/{CONSUMER}", f"/consumers/{CONSUMER}/report"):
        page, response, problems = await open_page(browser, base + path, width=390)
        assert response.status == 200 and problems == []
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, width)
        assert ENDPOINT in await page.inner_text("body")
        await page.context.close()
