"""The real daemon against hostile targets: each misbehaviour is classified within its timeout while
healthy endpoints keep being probed on schedule, and the daemon stays small and healthy."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.e2e.harness import DaemonProcess, free_port, metric_value
from tests.support.hostile import HostileHttp, TcpTarget

HOSTILE = {
    "hang": "timeout",
    "trickle": "timeout",
    "huge": "body_too_large",
    "huge-chunked": "body_too_large",
    "loop": "too_many_redirects",
    "reset": "connection_reset",
    "garbage": "protocol_error",
    "close": "connection_reset",
}


@pytest.fixture
async def hostile() -> AsyncIterator[TcpTarget]:
    target = await TcpTarget(HostileHttp()).start()
    yield target
    await target.close()


def lag_quantile_bound(text: str, quantile: float) -> float:
    """The smallest histogram bucket bound holding at least `quantile` of the lag samples."""
    buckets = [
        (float("inf") if m.group(1) == "+Inf" else float(m.group(1)), float(m.group(2)))
        for m in re.finditer(r'^slowatch_scheduler_lag_seconds_bucket\{le="([^"]+)"\} (\S+)$', text, re.M)
    ]
    total = buckets[-1][1]
    return next(bound for bound, count in buckets if count >= quantile * total)


async def test_hostile_targets_are_classified_while_healthy_ones_stay_on_schedule(
    hostile: TcpTarget, write_config: Callable[[str], Path], tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    port = hostile.port
    server = "server: {database: ./h.db, shutdown_grace: 1s, metrics: {histograms: true}}"  # durations below
    lines = [server, "defaults: {interval: 1s, timeout: 700ms}", "endpoints:"]
    for i in range(10):
        lines.append(f"  - {{name: healthy-{i}, kind: http, url: 'http://127.0.0.1:{port}/ok'}}")
    for path in HOSTILE:
        lines.append(f"  - {{name: {path}, kind: http, url: 'http://127.0.0.1:{port}/{path}', max_redirects: 5}}")
    lines.append(f"  - {{name: refused, kind: http, url: 'http://127.0.0.1:{free_port()}/'}}")
    d = DaemonProcess(write_config("\n".join(lines) + "\n"), tmp_path)
    daemons.append(d)
    await d.start()
    await asyncio.sleep(8)
    text = await d.metrics()

    for path, outcome in {**HOSTILE, "refused": "connection_refused"}.items():
        seen = metric_value(text, f'slowatch_probes_total{{endpoint="{path}",kind="http",outcome="{outcome}"}}')
        assert seen >= 4, f"{path}: only {seen} {outcome} results in 8 s"
        assert metric_value(text, f'slowatch_probe_success{{endpoint="{path}",kind="http"}}') == 0.0
        # Every failure finished within its 700 ms timeout (plus a margin), so no run had to be skipped.
        within = f'slowatch_probe_duration_seconds_bucket{{endpoint="{path}",kind="http",le="1.0"}}'
        assert metric_value(text, within) == seen
    for i in range(10):
        ok = metric_value(text, f'slowatch_probes_total{{endpoint="healthy-{i}",kind="http",outcome="success"}}')
        assert ok >= 6, f"healthy-{i} was probed only {ok} times in 8 s at a 1 s interval"
    assert metric_value(text, "slowatch_scheduler_skipped_runs_total") == 0
    assert metric_value(text, "slowatch_scheduler_missed_runs_total") == 0
    assert lag_quantile_bound(text, 0.99) <= 0.1

    assert d.proc is not None
    status = Path(f"/proc/{d.proc.pid}/status").read_text()
    peak_kib = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]
    assert peak_kib < 200 * 1024, f"peak RSS {peak_kib} KiB: a 2 GiB body must never be buffered"
    assert await d.stop() == 0
    assert "Traceback" not in d.log()
