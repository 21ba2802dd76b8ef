"""Endpoints that join an SLO mid-window, leave the config and come back, and a probe interval that changes
mid-window, through real reloads of a real daemon (FakeClock, SQLite file), against the oracle.

README (*How it is kept*): changing what counts as good (the endpoints) rebuilds the ledger from raw results
(48 h, exact) and hourly rollups (older hours), so an SLO's budget counts every stored result of its
endpoints in its window, also those stored while an endpoint was elsewhere or away. Occurrences weigh each
probe (*The model*: good probes / all probes), so an endpoint probed five times as often weighs five times
as much.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from slowatch.clock import FakeClock
from slowatch.config import load
from slowatch.daemon import Daemon
from tests.slo.oracle import Probe, Spec
from tests.slo.oracle_daemon import run_scenario

T0 = dt.datetime(2026, 10, 20, tzinfo=dt.UTC).timestamp()
DAY = 86400.0

CONFIG = """
server: {{listen: "127.0.0.1:0", database: "{db}"}}
alerting: {{resolve_after: 0s}}
endpoints:
{endpoints}
consumers:
  - name: shop
    endpoints: [{members}]
    slos:
      - {{name: r30, sli: availability, objective: 99.9, window: 30d}}
      - {{name: fast, sli: latency, threshold: 250ms, objective: 99, window: 7d}}
      - {{name: month, sli: availability, objective: 99.5, window: {{calendar: month, timezone: Europe/Berlin}}}}
"""


def write(path: Path, db: Path, endpoints: str, members: str) -> None:
    eps = "\n".join(f'  - {{name: {n}, kind: http, url: "http://127.0.0.1:9/{n}"}}' for n in endpoints)
    path.write_text(CONFIG.format(db=db, endpoints=eps, members=members))


def feed(start: float, end: float, plan: dict[str, float]) -> list[Probe]:
    """Probes of each endpoint every plan[endpoint] seconds in [start, end): a is bad on Oct 21 from 10:00
    to 12:00 and slow on Oct 24; b bad for an hour on Oct 22; c bad half an hour on Oct 24."""
    out = []
    for ep, step in plan.items():
        ts = start + {"a": 5.0, "b": 19.0, "c": 41.0}[ep]
        while ts < end:
            bad = (ep == "a" and T0 + DAY + 36000 <= ts < T0 + DAY + 43200) or (
                ep == "b" and T0 + 2 * DAY + 3600 <= ts < T0 + 2 * DAY + 7200) or (
                ep == "c" and T0 + 4 * DAY + 7200 <= ts < T0 + 4 * DAY + 9000)  # fmt: skip
            slow = ep == "a" and T0 + 4 * DAY <= ts < T0 + 5 * DAY
            out.append(Probe(ep, ts, "timeout" if bad else "success", 0.4 if slow else 0.1))
            ts += step
    return sorted(out, key=lambda p: p.ts)


def specs(endpoints: tuple[str, ...]) -> dict[tuple[str, str], Spec]:
    return {
        ("shop", "r30"): Spec(endpoints, 99.9, 30 * DAY),
        ("shop", "fast"): Spec(endpoints, 99, 7 * DAY, threshold=0.25),
        ("shop", "month"): Spec(endpoints, 99.5, ("month", "Europe/Berlin")),
    }


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[Daemon, FakeClock, Path, Path]]:
    path, db = tmp_path / "m.yaml", tmp_path / "m.db"
    write(path, db, "abc", "a, b")
    clock = FakeClock(T0 - 60)
    d = Daemon(load(path), config_path=path, clock=clock, watch_interval=3600)
    await d.start(schedule=False)
    yield d, clock, path, db
    await d.stop()


async def test_members_joining_leaving_and_probed_more_often_agree_with_the_oracle(
    setup: tuple[Daemon, FakeClock, Path, Path],
) -> None:
    d, clock, path, db = setup
    probes: list[Probe] = []
    problems: list[str] = []

    ends = [T0]

    async def phase(end: float, plan: dict[str, float], members: tuple[str, ...], checks: list[float],
                    short: int = 0) -> None:  # fmt: skip
        new = feed(ends[-1], end, plan)
        ends.append(end)
        probes.extend(new)
        done = len(probes) - len(new)
        problems.extend(await run_scenario(d, clock, probes, specs(members), checks, skip=done, short=short))

    # days 0-2: a and b every 5 min, c (not in the SLO) every 5 min
    await phase(T0 + 2 * DAY, {"a": 300, "b": 300, "c": 300}, ("a", "b"), [T0 + DAY + 39600, T0 + 2 * DAY - 1])
    # day 2-3: a every minute from now on (its interval changed): it weighs five times as much
    await phase(T0 + 3 * DAY, {"a": 60, "b": 300, "c": 300}, ("a", "b"), [T0 + 2 * DAY + 5400, T0 + 3 * DAY - 1])
    await reload(d, path, db, "abc", "a, c")  # b leaves the SLO, c joins it: rebuilt from the store
    # the rebuilt 1-minute cells hold the raw results only (48 h, README): the 3d window holds the last 2 days
    problems.extend(await run_scenario(d, clock, probes, specs(("a", "c")), [T0 + 3 * DAY - 1], skip=len(probes),
                                       short=86400))  # fmt: skip
    await phase(T0 + 4 * DAY, {"a": 60, "b": 300, "c": 300}, ("a", "c"), [T0 + 4 * DAY - 1], short=86400)
    await reload(d, path, db, "bc", "c")  # a leaves the config for a day
    await phase(T0 + 5 * DAY, {"b": 300, "c": 300}, ("c",), [T0 + 4 * DAY + 8000, T0 + 5 * DAY - 1], short=86400)
    await reload(d, path, db, "abc", "a, c")  # and comes back
    await phase(T0 + 5 * DAY + 7200, {"a": 60, "b": 300, "c": 300}, ("a", "c"), [T0 + 5 * DAY + 7000], short=86400)
    assert not problems, "\n".join(problems[:40])


async def reload(d: Daemon, path: Path, db: Path, endpoints: str, members: str) -> None:
    d._slo.persist()
    await d.store.flush()
    write(path, db, endpoints, members)
    config = load(path)  # the daemon's reload without its scheduler (not started: the clock is a FakeClock)
    await d._slo.reload(config)
    await d._alerts.reload(config)
    await d.store.flush()
