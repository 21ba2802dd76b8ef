"""What alerting keeps of endpoints and sinks a reload removed is bounded: nothing keyed by a name that is gone
stays in the database or in memory (benchmarks/soak_days.py found each of these growing over simulated weeks)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from slowatch.clock import FakeClock
from slowatch.config.schema import Config
from slowatch.models import Outcome, ProbeResult
from tests.alerting.conftest import make_config


def endpoints_config(tmp_path: Path, names: list[str]) -> Config:
    eps = [{"name": n, "kind": "http", "url": f"http://127.0.0.1:9/{n}", "interval": "10s"} for n in names]
    return make_config(tmp_path, endpoints=eps)


def streak_rows(db: str) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {r[0] for r in conn.execute("SELECT endpoint FROM alert_streaks")}


async def test_removed_endpoints_leave_no_streak_rows(tmp_path: Path, clock: FakeClock, rig: Any) -> None:
    """A config whose endpoints are renamed at every reload (tenants, per-deploy canaries) kept one
    `alert_streaks` row for every endpoint ever configured: forgotten in memory, never in the database."""
    names = ["steady", "canary-1", "canary-2"]
    r = await rig(endpoints_config(tmp_path, names))
    for n in names:
        r.service.observe(ProbeResult(n, "http", Outcome.TIMEOUT, clock.time(), 1.0))
    await r.store.flush()
    db = r.config.server.database
    assert streak_rows(db) == set(names)

    for gen in range(3, 6):  # each reload replaces the canaries
        clock.advance(60)
        new = ["steady", f"canary-{gen}"]
        await r.service.reload(endpoints_config(tmp_path, new))
        for n in new:
            r.service.observe(ProbeResult(n, "http", Outcome.SUCCESS, clock.time(), 0.1))
        await r.store.flush()
        assert streak_rows(db) == set(new)
        assert set(r.service.health.streaks) == set(new)


async def test_streak_rows_of_endpoints_gone_while_stopped_go_at_start(
    tmp_path: Path, clock: FakeClock, rig: Any
) -> None:
    r = await rig(endpoints_config(tmp_path, ["a", "b"]))
    for n in ("a", "b"):
        r.service.observe(ProbeResult(n, "http", Outcome.TIMEOUT, clock.time(), 1.0))
    await r.stop()
    db = r.config.server.database
    assert streak_rows(db) == {"a", "b"}

    r2 = await rig(endpoints_config(tmp_path, ["a"]))  # b left the config while the daemon was down
    await r2.store.flush()
    assert streak_rows(db) == {"a"}
    assert r2.service.health.streaks["a"].fails == 1  # (what stays is restored as it was)
