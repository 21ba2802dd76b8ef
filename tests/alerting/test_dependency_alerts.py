"""Endpoint-down alerts along `depends_on`: one page for the root cause, one resolved message.

Real probes against local targets, a real store and a real Slack stand-in, on a FakeClock."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from slowatch.config.schema import Config
from tests.alerting.conftest import Rig, http_endpoint, make_config, slack_sink
from tests.alerting.fakes import FakeReceiver, Target

DEPENDENTS = [f"svc{i}" for i in range(5)]


def config_for(
    tmp_path: Path, targets: dict[str, Target], deps: dict[str, list[str]], receiver: FakeReceiver
) -> Config:
    endpoints = []
    for name, target in targets.items():
        ep = http_endpoint(name, target.url(), failure_threshold=2, success_threshold=1)
        ep["depends_on"] = deps.get(name, [])
        endpoints.append(ep)
    return make_config(
        tmp_path,
        endpoints=endpoints,
        consumers=[{"name": f"team{i}", "endpoints": [n]} for i, n in enumerate(targets)],
        sinks={"oncall": slack_sink(receiver.url())},
        routes=[{"match": {}, "sinks": ["oncall"]}],
    )


async def make_targets(names: list[str]) -> dict[str, Target]:
    return {n: await Target().start() for n in names}


async def probe_round(r: Rig, names: list[str]) -> None:
    """Each endpoint probed once, 1 s apart (in that order), then the rest of its 10 s interval."""
    for name in names:
        await r.probe(name, step=1.0)
    r.clock.advance(10.0 - len(names))


async def settle(r: Rig) -> None:
    await r.store.flush()
    await asyncio.sleep(0.3)


async def test_root_outage_with_five_dependents_pages_once_and_resolves_once(
    tmp_path: Path, receiver: FakeReceiver, rig: Any
) -> None:
    targets = await make_targets(["db", *DEPENDENTS])
    try:
        r = await rig(config_for(tmp_path, targets, {n: ["db"] for n in DEPENDENTS}, receiver))
        order = [*DEPENDENTS, "db"]  # the dependents are probed first: they cross their threshold first
        await probe_round(r, order)
        for t in targets.values():
            t.up = False
        for _ in range(4):
            await probe_round(r, order)
        await settle(r)
        [page] = await receiver.wait_acked(1)
        assert page.body["text"].startswith("[FIRING] PAGE: endpoint db is down")
        blocks = str(page.body["blocks"])
        assert all(f"`{n}` — failing" in blocks for n in DEPENDENTS), blocks
        assert all(f"team{i}" in blocks for i in range(6))  # every consumer affected
        alerts = {a["endpoint"]: a for a in r.service.firing_view()}
        assert set(alerts) == {"db", *DEPENDENTS}  # the dependents record their own outage...
        assert all(alerts[n]["suppressed"] and alerts[n]["root_cause"] == "db" for n in DEPENDENTS)
        for t in targets.values():
            t.up = True
        for _ in range(2):
            await probe_round(r, order)
        await settle(r)
        acked = await receiver.wait_acked(2)
        await asyncio.sleep(0.3)
        assert len(receiver.attempts) == 2, [h.body["text"] for h in receiver.attempts]
        assert acked[1].body["text"].startswith("[RESOLVED] PAGE: endpoint db is down")
        assert "Dependents that failed meanwhile" in str(acked[1].body["blocks"])
        assert r.service.firing_view() == []
    finally:
        for t in targets.values():
            await t.close()


async def test_held_dependent_is_paged_when_its_dependency_turns_out_fine(
    tmp_path: Path, receiver: FakeReceiver, rig: Any
) -> None:
    targets = await make_targets(["db", "api"])
    try:
        r = await rig(config_for(tmp_path, targets, {"api": ["db"]}, receiver))
        targets["api"].up = targets["db"].up = False
        await probe_round(r, ["api", "db"])
        await probe_round(r, ["api"])  # api crosses its threshold while db has failed once: held
        await settle(r)
        assert receiver.attempts == []
        targets["db"].up = True
        await r.probe("db", step=1.0)  # db answers: api's failure is its own, paged at once
        [page] = await receiver.wait_acked(1)
        assert page.body["text"].startswith("[FIRING] PAGE: endpoint api is down")
    finally:
        for t in targets.values():
            await t.close()


async def test_dependent_failing_alone_is_paged_without_a_hold(
    tmp_path: Path, receiver: FakeReceiver, rig: Any
) -> None:
    targets = await make_targets(["db", "api"])
    try:
        r = await rig(config_for(tmp_path, targets, {"api": ["db"]}, receiver))
        await probe_round(r, ["api", "db"])
        targets["api"].up = False
        await probe_round(r, ["api", "db"])
        await probe_round(r, ["api"])
        [page] = await receiver.wait_acked(1)
        assert page.body["text"].startswith("[FIRING] PAGE: endpoint api is down")
    finally:
        for t in targets.values():
            await t.close()


async def test_hold_is_bounded(tmp_path: Path, receiver: FakeReceiver, rig: Any) -> None:
    targets = await make_targets(["db", "api"])
    try:
        r = await rig(config_for(tmp_path, targets, {"api": ["db"]}, receiver))
        targets["api"].up = False
        for _ in range(4):  # db is never probed: its state stays unknown
            await probe_round(r, ["api"])
        await settle(r)
        assert receiver.attempts == []  # api crossed its threshold at the 2nd round: held for (2 + 1) x 10 s
        await probe_round(r, ["api"])
        [page] = await receiver.wait_acked(1)
        assert "endpoint api is down" in page.body["text"]
    finally:
        for t in targets.values():
            await t.close()


async def test_chain_pages_the_deepest_down_ancestor(tmp_path: Path, receiver: FakeReceiver, rig: Any) -> None:
    targets = await make_targets(["a", "b", "c"])
    try:
        r = await rig(config_for(tmp_path, targets, {"a": ["b"], "b": ["c"]}, receiver))
        order = ["a", "b", "c"]
        await probe_round(r, order)
        for t in targets.values():
            t.up = False
        for _ in range(3):
            await probe_round(r, order)
        [page] = await receiver.wait_acked(1)
        assert page.body["text"].startswith("[FIRING] PAGE: endpoint c is down")
        assert "root cause for 2 dependent endpoint(s): b, a" in page.body["text"]
        assert {a["endpoint"]: a["root_cause"] for a in r.service.firing_view()} == {"a": "c", "b": "c", "c": None}
        for t in targets.values():
            t.up = True
        await probe_round(r, order)
        await receiver.wait_acked(2)
        await settle(r)
        assert [h.body["text"].split(":")[0] for h in receiver.attempts] == ["[FIRING] PAGE", "[RESOLVED] PAGE"]
    finally:
        for t in targets.values():
            await t.close()


async def test_reload_without_the_dependency_pages_the_dependent_on_its_own(
    tmp_path: Path, receiver: FakeReceiver, rig: Any
) -> None:
    targets = await make_targets(["db", "api"])
    try:
        config = config_for(tmp_path, targets, {"api": ["db"]}, receiver)
        r = await rig(config)
        await probe_round(r, ["api", "db"])
        targets["api"].up = targets["db"].up = False
        for _ in range(3):
            await probe_round(r, ["api", "db"])
        [page] = await receiver.wait_acked(1)
        assert "endpoint db is down" in page.body["text"]
        await r.service.reload(config_for(tmp_path, targets, {}, receiver))  # api no longer depends on db
        await probe_round(r, ["api"])
        acked = await receiver.wait_acked(2)
        assert acked[1].body["text"].startswith("[FIRING] PAGE: endpoint api is down")
    finally:
        for t in targets.values():
            await t.close()


async def test_a_restart_keeps_dependents_covered(tmp_path: Path, receiver: FakeReceiver, rig: Any) -> None:
    targets = await make_targets(["db", "api"])
    try:
        config = config_for(tmp_path, targets, {"api": ["db"]}, receiver)
        first = await rig(config)
        await probe_round(first, ["api", "db"])
        targets["api"].up = targets["db"].up = False
        for _ in range(3):
            await probe_round(first, ["api", "db"])
        await receiver.wait_acked(1)
        await first.stop()
        second = await rig(config)  # the same database: firing alerts and streaks restored
        for _ in range(2):
            await probe_round(second, ["api", "db"])
        await settle(second)
        assert len(receiver.attempts) == 1
        targets["api"].up = targets["db"].up = True
        await probe_round(second, ["api", "db"])
        await receiver.wait_acked(2)
        await settle(second)
        assert [h.body["text"].split(":")[0] for h in receiver.attempts] == ["[FIRING] PAGE", "[RESOLVED] PAGE"]
    finally:
        for t in targets.values():
            await t.close()
