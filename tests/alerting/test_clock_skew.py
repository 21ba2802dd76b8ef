"""Two HA replicas whose clocks differ by a few seconds, alerting through a real 2-member Alertmanager cluster
(Debian's `prometheus-alertmanager`, slowatch.topology) to a Slack stand-in: each alert still reaches it once
firing and once resolved, whichever replica resolves first.

A replica's clock is in what it posts: `startsAt` (when it saw the alert fire) and, on a resolution, `endsAt`.
Alertmanager keeps the earliest `startsAt`, and takes an `endsAt` a few seconds ahead of its own clock as "still
firing until then", so a replica ahead of the others delays the resolution by its offset, never splits or
repeats it. Real time moves here (Alertmanager's); each replica's FakeClock is set a few seconds off it.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from slowatch.clock import FakeClock
from slowatch.config.schema import Config
from slowatch.topology import AmTiming
from slowatch.topology.alertmanagers import AlertmanagerCluster
from slowatch.topology.processes import find_binary
from slowatch.topology.slack import SlackStandIn
from tests.alerting.conftest import FAST_SINK, Rig, http_endpoint, make_config
from tests.alerting.fakes import Target
from tests.support.sockets import worker_ports

SKEW = 4.0


@pytest.fixture(autouse=True)
def blockbuster() -> Iterator[None]:
    """No blocking-call guard: the Alertmanager cluster is a harness that writes files and starts processes."""
    yield


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[tuple[AlertmanagerCluster, SlackStandIn]]:
    binary = find_binary("prometheus-alertmanager", "alertmanager")
    if binary is None:
        pytest.skip("needs Debian's prometheus-alertmanager")
    slack = SlackStandIn(ports=worker_ports())
    await slack.start()
    ams = AlertmanagerCluster(binary, tmp_path / "am", 2, AmTiming(), ports=worker_ports())
    ams.write_config(slack.url)
    try:
        await ams.spawn()
        await ams.ready(30)
        yield ams, slack
    finally:
        await ams.stop()
        await slack.stop()


class SkewedClock(FakeClock):
    """Real time plus `offset` seconds (a machine whose clock is off), moved on at every probe."""

    def __init__(self, offset: float) -> None:
        super().__init__(time.time() + offset)
        self.offset = offset

    def catch_up(self) -> None:
        self.advance(max(0.0, time.time() + self.offset - self.time()))


async def replica(tmp_path: Path, name: str, urls: list[str], target: Target, offset: float) -> Rig:
    config: Config = make_config(
        tmp_path,
        server={"database": str(tmp_path / f"{name}.db")},
        endpoints=[http_endpoint("x", target.url(), failure_threshold=1, success_threshold=1)],
        sinks={f"am-{i}": {"kind": "alertmanager", "url": u, "resend_interval": "1s", **FAST_SINK}
               for i, u in enumerate(urls)},
        routes=[{"sinks": [f"am-{i}" for i in range(len(urls))]}],
    )  # fmt: skip
    return await Rig(config, SkewedClock(offset)).start()


async def probe(r: Rig) -> None:
    assert isinstance(r.clock, SkewedClock)
    r.clock.catch_up()
    await r.probe("x", step=0)


async def until(check: Callable[[], bool], what: str, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"not within {within:g}s: {what}"
        await asyncio.sleep(0.1)


@pytest.mark.prometheus
@pytest.mark.slow
@pytest.mark.parametrize("first", ["ahead", "behind"])
async def test_replicas_with_clocks_seconds_apart_page_once_and_resolve_once(
    tmp_path: Path, cluster: tuple[AlertmanagerCluster, SlackStandIn], first: str
) -> None:
    ams, slack = cluster
    target = await Target().start()
    rigs: list[Rig] = []
    try:
        ahead = await replica(tmp_path, "ahead", ams.urls, target, +SKEW)
        rigs.append(ahead)
        behind = await replica(tmp_path, "behind", ams.urls, target, -SKEW)
        rigs.append(behind)
        target.up = False
        await probe(ahead)
        await probe(behind)
        await until(lambda: any(d.status == "firing" for d in slack.deliveries), "the page")
        for _ in range(3):  # both re-post it (resend_interval 1s), each with its own startsAt
            await asyncio.sleep(1)
            await probe(ahead)
            await probe(behind)
        target.up = True
        one, other = (ahead, behind) if first == "ahead" else (behind, ahead)
        await probe(one)
        await asyncio.sleep(1)  # `other` a probe behind: it still re-posts the alert it saw failing last
        await probe(other)
        await until(lambda: any(d.status == "resolved" for d in slack.deliveries), "the resolution")
        await asyncio.sleep(7)  # past the skew and a group_interval (5s): a repeat or a re-opening would be here
        assert Counter(d.status for d in slack.deliveries) == {"firing": 1, "resolved": 1}, slack.deliveries
        assert len({d.fingerprint for d in slack.deliveries}) == 1, slack.deliveries
    finally:
        for r in rigs:
            await r.stop()
        await target.close()
