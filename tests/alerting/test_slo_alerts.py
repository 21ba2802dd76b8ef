"""Burn-rate, budget-exhausted and no-data alerts from real probes -> SloService -> Snapshot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from slowatch.alerting import AlertService
from slowatch.alerting.burn import FAILING_LISTED
from slowatch.alerting.policy import DEFAULT_TIERS, PolicyBook
from slowatch.alerting.sinks.text import duration
from slowatch.clock import FakeClock
from slowatch.config.schema import Config, RetentionConfig
from slowatch.models import Outcome, ProbeResult
from slowatch.probes import ProbeContext, make_session, run_probe
from slowatch.slo.display import duration_words, percent
from slowatch.slo.service import SloService
from slowatch.slo.snapshot import SloState, SloStatus, Snapshot
from slowatch.store import Store
from tests.alerting.conftest import FAST_SINK, http_endpoint, make_config, slack_sink
from tests.alerting.fakes import FakeReceiver, Target


def shop_config(tmp_path: Path, target: Target, receiver: FakeReceiver, **policy: Any) -> Config:
    """`policy`: the alerting section's overrides, `window`: shop/avail's SLO window (default 30d), and
    `webhook`: a webhook sink (path /webhook of the receiver) beside Slack."""
    window = {"window": policy.pop("window")} if "window" in policy else {}
    webhook = policy.pop("webhook", False)
    return make_config(
        tmp_path,
        server={"database": str(tmp_path / "slo.db"), "external_url": "https://slowatch.example/"},
        endpoints=[http_endpoint("api", target.url(), enabled=False), http_endpoint("idle", target.url())],
        consumers=[
            {
                "name": "shop",
                "endpoints": ["api"],
                "slos": [{"name": "avail", "sli": "availability", "objective": 99, **window}],
            },
            {
                "name": "quiet",
                "endpoints": ["idle"],
                "slos": [{"name": "avail", "sli": "availability", "objective": 99}],
            },
        ],
        sinks={
            "oncall": slack_sink(receiver.url()),
            **({"hook": {"kind": "webhook", "url": receiver.url("/webhook"), **FAST_SINK}} if webhook else {}),
        },
        routes=[{"match": {}, "sinks": ["oncall", "hook"] if webhook else ["oncall"]}],
        alerting={
            "resolve_after": "60s",
            "no_data_after": "2m",
            "storm": {"threshold": 10, "window": "1m", "group_wait": 0, "group_interval": "200ms"},
            **policy,
        },
    )


class SloRig:
    def __init__(self, config: Config, clock: FakeClock) -> None:
        self.config, self.clock = config, clock
        self.store = Store(config.server.database, clock=clock, retention=RetentionConfig(), batch_interval=0.02)
        self.slo = SloService(config, self.store, clock, refresh_interval=3600, persist_interval=3600)
        self.alerts = AlertService(config, self.store, clock)
        self.session = make_session()
        self.ctx = ProbeContext(session=self.session, clock=clock)

    def on_result(self, result: Any) -> None:
        self.slo.observe(result)
        self.alerts.observe(result)

    async def step(self, name: str = "api") -> SloStatus:
        """Probe for real 10 s later, refresh the snapshot, evaluate it; return shop/avail's status."""
        self.clock.advance(10)
        await run_probe(self.config.endpoint(name), self.ctx, self.on_result)
        snapshot = self.slo.refresh()
        self.alerts.evaluate(snapshot)
        status = snapshot.get("shop", "avail")
        assert status is not None
        return status

    def firing(self) -> set[str]:
        return set(self.alerts.book.firing)


@pytest.fixture
async def slo_rig(tmp_path: Path, target: Target, receiver: FakeReceiver, request: Any) -> AsyncIterator[SloRig]:
    policy = getattr(request, "param", {})
    rig = SloRig(shop_config(tmp_path, target, receiver, **policy), FakeClock())
    await rig.store.start()
    await rig.slo.start()
    await rig.alerts.start()
    yield rig
    await rig.alerts.stop()
    await rig.slo.stop()
    await rig.session.close()
    await rig.store.close()


def expected_severities(st: SloStatus, config: Config) -> set[str]:
    """The policy restated from the snapshot: a severity fires when one of its tiers has both windows above."""
    out = set()
    for tier in PolicyBook(config).get(st.consumer, st.slo).tiers_for(st.window_seconds):
        rates = {w.seconds: w.burn_rate for w in st.windows}
        long, short = rates.get(tier.long), rates.get(tier.short)
        if st.state is SloState.OK and long is not None and short is not None and min(long, short) > tier.factor:
            out.add(tier.severity)
    return out


def test_default_tiers_are_the_workbooks() -> None:
    tiers = {
        (t.severity, t.long, t.short, round(t.factor, 6))
        for t in PolicyBook(Config()).get("c", "s").tiers_for(30 * 86400)
    }
    assert tiers == {
        ("page", 3600, 300, 14.4),
        ("page", 21600, 1800, 6.0),
        ("ticket", 86400, 7200, 3.0),
        ("ticket", 259200, 21600, 1.0),
    }
    assert len(DEFAULT_TIERS) == 4
    week = {round(t.factor, 6) for t in PolicyBook(Config()).get("c", "s").tiers_for(7 * 86400)}
    assert week == {round(0.02 * 168, 6), round(0.05 * 28, 6), round(0.1 * 7, 6), round(0.1 * 7 / 3, 6)}


async def test_burn_exhausted_and_no_data_fire_and_resolve(
    slo_rig: SloRig, target: Target, receiver: FakeReceiver
) -> None:
    rig = slo_rig
    start = rig.clock.time()
    no_data_at = None
    for _ in range(200):
        st = await rig.step()
        if "no_data:quiet/avail" in rig.firing() and no_data_at is None:
            no_data_at = rig.clock.time()
        assert not {k for k in rig.firing() if "shop" in k}
    assert no_data_at is not None and no_data_at - (start + 10) == 120  # first seen at the first evaluation
    assert st.state is SloState.OK

    target.up = False
    fired_at: dict[str, int] = {}
    for n in range(1, 41):
        st = await rig.step()
        for sev in expected_severities(st, rig.config):
            fired_at.setdefault(f"burn:shop/avail:{sev}", n)
        if st.budget_remaining is not None and st.budget_remaining <= 0:
            fired_at.setdefault("exhausted:shop/avail", n)
        assert {k for k in rig.firing() if "shop" in k} == set(fired_at), n
    # 3 failures in 203 probes burn > 1x over 3d and 6h; > 6x over 6h and 30m needs ~13
    assert fired_at["burn:shop/avail:ticket"] == 3
    assert fired_at["exhausted:shop/avail"] == 3
    assert 11 <= fired_at["burn:shop/avail:page"] <= 15

    await rig.store.flush()
    acked = await receiver.wait_acked(4)
    page = next(a.body for a in acked if "burn:shop/avail:page" in str(a.body))
    assert page["text"].startswith("[FIRING] PAGE: shop · avail: error budget burning fast")
    blocks = str(page["blocks"])
    for expected in (
        "*Consumer*\\nshop",
        "avail (99% over 30d)",
        "*Budget left*",
        "*Budget consumed*",
        "*Time to exhaustion*",
        "vs threshold 6.0x",
        "vs threshold 14.4x",
        "*Failing endpoints*",
        "`api` — `$.status was",  # the error, in a code span
        "&lt;maintenance&gt; &amp; more",
        "<https://slowatch.example/|Open in slowatch>",
    ):
        assert expected in blocks, expected

    target.up = True
    false_since = None
    for _ in range(400):
        st = await rig.step()
        if "page" not in expected_severities(st, rig.config) and false_since is None:
            false_since = rig.clock.time()
        if "burn:shop/avail:page" not in rig.firing():
            break
    assert false_since is not None
    assert 60 <= rig.clock.time() - false_since < 70  # resolve_after: 60s of a false condition
    assert "exhausted:shop/avail" in rig.firing()  # the 30d budget is still overspent

    await rig.step("idle")  # data for quiet at last
    assert "no_data:quiet/avail" in rig.firing()
    for _ in range(6):
        await rig.step("idle")
    assert "no_data:quiet/avail" not in rig.firing()
    await rig.store.flush()
    acked = await receiver.wait_acked(6)  # 4 firing (no data, ticket, exhausted, page), 2 resolved
    assert "burn:shop/avail:ticket" in rig.firing()
    resolved = [a.body for a in acked if a.body["text"].startswith("[RESOLVED]")]
    assert len(resolved) == 2
    assert any("Resolves `burn:shop/avail:page`" in str(r["blocks"]) for r in resolved)
    assert any("Resolves `no_data:quiet/avail`" in str(r["blocks"]) for r in resolved)


HALF_BUDGET = {"slos": [{"consumer": "shop", "slo": "avail", "exhausted_threshold": 0.5, "burn_tiers": []}]}


@pytest.mark.parametrize("slo_rig", [HALF_BUDGET], indirect=True)
async def test_exhausted_fires_at_its_threshold_and_resolves_when_the_budget_recovers(
    slo_rig: SloRig, target: Target, receiver: FakeReceiver
) -> None:
    rig = slo_rig
    for _ in range(200):
        await rig.step()
    target.up = False
    st = await rig.step()  # 1 bad in 201: 50.2% of the budget left
    assert st.budget_remaining is not None and st.budget_remaining > 0.5
    assert "exhausted:shop/avail" not in rig.firing()
    st = await rig.step()  # 2 bad in 202: 1% left, under the 50% threshold
    assert st.budget_remaining is not None and st.budget_remaining <= 0.5
    assert "exhausted:shop/avail" in rig.firing()
    assert not any(k.startswith("burn:") for k in rig.firing())  # this override has no burn tiers
    target.up = True
    recovered_at = None
    for _ in range(300):
        st = await rig.step()
        if recovered_at is None and st.budget_remaining is not None and st.budget_remaining > 0.5:
            recovered_at = rig.clock.time()
        if "exhausted:shop/avail" not in rig.firing():
            break
    assert recovered_at is not None and rig.clock.time() - recovered_at == 60  # resolve_after
    await rig.store.flush()
    acked = await receiver.wait_acked(3)  # no data for quiet, exhausted firing, exhausted resolved
    texts = [a.body["text"] for a in acked if "exhausted" in a.body["text"]]
    assert texts[0].startswith("[FIRING] TICKET: shop · avail: error budget exhausted")
    assert texts[1].startswith("[RESOLVED] TICKET: shop · avail: error budget exhausted")


@pytest.mark.parametrize("slo_rig", [{**HALF_BUDGET, "window": {"calendar": "month", "timezone": "Asia/Kathmandu"}}],
                         indirect=True)  # fmt: skip
async def test_a_calendar_windows_alert_names_its_time_zone(
    slo_rig: SloRig, target: Target, receiver: FakeReceiver
) -> None:
    """Slack's SLO field reads the window as the status page and reports do: 'month (Asia/Kathmandu)' (was
    'month': a month in which zone?)."""
    rig = slo_rig
    for _ in range(200):
        await rig.step()
    target.up = False
    await rig.step(), await rig.step()
    assert "exhausted:shop/avail" in rig.firing()
    await rig.store.flush()
    acked = await receiver.wait_acked(2)
    page = next(a.body for a in acked if "exhausted" in a.body["text"])
    assert "avail (99% over month (Asia/Kathmandu))" in str(page["blocks"]), page["blocks"]


@pytest.mark.parametrize("slo_rig", [{**HALF_BUDGET, "window": "7d", "webhook": True}], indirect=True)
async def test_time_to_exhaustion_in_an_alert_names_the_budget_it_spends_while_data_covers_part_of_the_window(
    slo_rig: SloRig, target: Target, receiver: FakeReceiver
) -> None:
    """About an hour of a 7d window with data: Slack read "Time to exhaustion 8.4d at the current burn" and the
    webhook gave the bare figure, while the consumer page says what it spends: the share left of the whole
    window's budget at the 1h burn, not the budget of the hour with data (display.exhaustion_basis)."""
    rig = slo_rig
    for _ in range(200):
        await rig.step()
    target.up = False
    st = await rig.step()
    while "exhausted:shop/avail" not in rig.firing():
        st = await rig.step()
    assert st.partial and st.time_to_exhaustion and st.budget_remaining is not None and st.budget_remaining > 0
    whole = st.budget_remaining * 0.01 * 7 * 86400
    basis = f"{percent(st.budget_remaining)} of the whole 7d budget ({duration_words(whole)}) at the 1h burn"
    await rig.store.flush()
    acked = await receiver.wait_acked(4)  # quiet's no data and shop's exhausted, each to Slack and the webhook
    slack = next(a.body for a in acked if a.path == "/hook" and "exhausted" in a.body["text"])
    assert f"*Time to exhaustion*\\n{duration(st.time_to_exhaustion)} to spend {basis}" in str(slack["blocks"])
    [event] = [e for a in acked if a.path == "/webhook" for e in a.body["events"] if e["kind"] == "budget_exhausted"]
    assert event["details"]["time_to_exhaustion"] == pytest.approx(st.time_to_exhaustion)
    assert event["details"]["time_to_exhaustion_basis"] == basis


@pytest.mark.parametrize("slo_rig", [HALF_BUDGET], indirect=True)
async def test_an_slo_missing_from_a_snapshot_stays_firing_one_removed_from_the_config_resolves(
    slo_rig: SloRig, target: Target, tmp_path: Path, receiver: FakeReceiver
) -> None:
    rig = slo_rig
    for _ in range(200):
        await rig.step()
    target.up = False
    await rig.step(), await rig.step()
    assert "exhausted:shop/avail" in rig.firing()
    rig.alerts.evaluate(Snapshot(rig.clock.time()))  # e.g. an engine that has not refreshed yet
    assert "exhausted:shop/avail" in rig.firing()
    disabled = {"slos": [{"consumer": "shop", "slo": "avail", "enabled": False}]}
    await rig.alerts.reload(shop_config(tmp_path, target, receiver, **disabled))
    rig.alerts.evaluate(rig.slo.refresh())
    assert "exhausted:shop/avail" not in rig.firing()
    await rig.store.flush()
    await receiver.wait_acked(2)  # no_data:quiet/avail, then exhausted:shop/avail
    for _ in range(200):
        if not any(w.queue for w in rig.alerts.dispatcher.workers.values()):
            break
        await asyncio.sleep(0.02)
    acked = receiver.acked
    assert acked[-1].body["text"].startswith("[RESOLVED] TICKET: shop · avail: error budget exhausted")
    assert "SLO, tier or its alerting removed from the config" in str(acked[-1].body["blocks"])
    text = acked[-1].body["text"]  # not "error budget is above its threshold again": nobody saw it recover
    assert "again" not in text and "budget-exhausted alert no longer evaluated after" in text, text
    assert "(not known to have cleared)" in text and ":white_check_mark:" not in str(acked[-1].body["blocks"])
    if len(acked) == 2:  # its FIRING was not sent yet when it resolved: folded into the RESOLVED (fold.py)
        assert "Changed state once since" in str(acked[-1].body["blocks"])
    else:
        assert len(acked) == 3 and acked[1].body["text"].startswith("[FIRING] TICKET: shop · avail")


@pytest.mark.parametrize("slo_rig", [HALF_BUDGET], indirect=True)
async def test_exhausted_waits_for_enough_events(slo_rig: SloRig, target: Target) -> None:
    """Two failures in the first five probes overspend a 99% budget on paper; with fewer than 100
    probes the budget allows less than one bad probe, so the state is too_few_events and nothing fires."""
    rig = slo_rig
    target.up = False
    for _ in range(5):
        st = await rig.step()
    assert st.state is SloState.TOO_FEW_EVENTS
    assert st.budget_remaining is not None and st.budget_remaining < 0
    assert "exhausted:shop/avail" not in rig.firing()


async def test_a_wall_clock_step_fires_no_no_data_alert_early(slo_rig: SloRig) -> None:
    rig = slo_rig
    await rig.step()
    rig.clock.step(86400)  # NTP fixes a clock a day behind: 10 s pass, not a day
    await rig.step()
    assert "no_data:quiet/avail" not in rig.firing()  # `idle` is never probed: no data for 10 s, not 2m
    for _ in range(12):
        await rig.step()
    assert "no_data:quiet/avail" in rig.firing()


@pytest.mark.parametrize("slo_rig", [HALF_BUDGET], indirect=True)
async def test_a_wall_clock_step_resolves_no_alert_early(slo_rig: SloRig, target: Target) -> None:
    rig = slo_rig
    for _ in range(200):
        await rig.step()
    target.up = False
    await rig.step()
    await rig.step()
    assert "exhausted:shop/avail" in rig.firing()
    target.up = True
    for _ in range(300):  # until the budget recovers: the alert's condition is false from then on
        st = await rig.step()
        if st.budget_remaining is not None and st.budget_remaining > 0.5:
            break
    rig.clock.step(86400)  # 10 s pass, not a day
    await rig.step()
    assert "exhausted:shop/avail" in rig.firing()  # resolve_after (60 s) has not passed
    for _ in range(6):
        await rig.step()
    assert "exhausted:shop/avail" not in rig.firing()


async def test_a_clock_a_day_ahead_and_stepped_back_still_pages(slo_rig: SloRig, target: Target) -> None:
    """Results stamped while the clock was a day ahead must not hold the windows a day ahead once it is
    fixed: the outage that follows pages as it would have without the step."""
    rig = slo_rig
    for _ in range(200):
        await rig.step()
    rig.clock.step(86400)  # the clock jumps a day ahead ...
    for _ in range(3):
        await rig.step()
    rig.clock.step(-86400)  # ... and NTP steps it back
    await rig.step()
    target.up = False
    for _ in range(20):
        st = await rig.step()
    assert "burn:shop/avail:page" in rig.firing()
    five_minutes = next(w for w in st.windows if w.seconds == 300)
    assert five_minutes.burn_rate is not None and five_minutes.burn_rate > 14.4


async def test_an_outage_of_many_endpoints_lists_a_bounded_number_of_them(
    tmp_path: Path, receiver: FakeReceiver
) -> None:
    """A burn alert's details list at most FAILING_LISTED failing endpoints, and how many fail in all: a platform-wide
    outage must not put megabytes into every event of every consumer (the outbox, each webhook, Slack's count)."""
    names = [f"svc-{i:03d}" for i in range(120)]
    config = make_config(
        tmp_path,
        server={"database": str(tmp_path / "slo.db")},
        endpoints=[http_endpoint(n, "http://127.0.0.1:9/", enabled=False) for n in names],
        consumers=[{"name": "big", "endpoints": names, "slos": [{"name": "avail", "sli": "availability",
                                                                 "objective": 99}]}],
        sinks={"hook": {"kind": "webhook", "url": receiver.url(), **FAST_SINK},
               "oncall": slack_sink(receiver.url("/slack"))},
        routes=[{"match": {}, "sinks": ["hook", "oncall"]}],
    )  # fmt: skip
    clock = FakeClock()
    latest: dict[str, ProbeResult] = {}
    store = Store(config.server.database, clock=clock, retention=RetentionConfig(), batch_interval=0.02)
    slo = SloService(config, store, clock, refresh_interval=3600, persist_interval=3600)
    alerts = AlertService(config, store, clock, latest=latest)
    await store.start()
    await slo.start()
    await alerts.start()
    try:
        for step in range(60):
            clock.advance(10)
            for name in names:
                failing = step >= 40 and name != "svc-007"
                result = ProbeResult(name, "http", Outcome.TIMEOUT if failing else Outcome.SUCCESS, clock.time(), 0.1,
                                     message="timed out after 2s" if failing else "")  # fmt: skip
                latest[name] = result
                slo.observe(result)
                alerts.observe(result)
            alerts.evaluate(slo.refresh())
        assert "burn:big/avail:page" in alerts.book.firing
        await store.flush()
        for _ in range(500):  # both sinks got the page (two acks could be the webhook's alone, on a busy machine)
            if {a.path for a in receiver.acked if "burn:big/avail:page" in str(a.body)} >= {"/hook", "/slack"}:
                break
            await asyncio.sleep(0.02)
    finally:
        await alerts.stop()
        await slo.stop()
        await store.close()
    hook = next(a.body for a in receiver.acked if a.path == "/hook" and "burn:big/avail:page" in str(a.body))
    details = next(e["details"] for e in hook["events"] if e["alert"] == "burn:big/avail:page")
    assert details["failing_total"] == 119
    assert len(details["failing"]) == FAILING_LISTED
    assert [f["endpoint"] for f in details["failing"][:8]] == [f"svc-{i:03d}" for i in (0, 1, 2, 3, 4, 5, 6, 8)]
    slack = next(a.body for a in receiver.acked if a.path == "/slack" and "burn:big/avail:page" in str(a.body))
    assert "… and 109 more" in str(slack["blocks"])


def test_slack_says_a_time_of_days_as_the_consumer_page_does() -> None:
    """Slack read "8.4d" where the consumer page's card read "8d 10h" for the same time to exhaustion."""
    for days in (1.2, 8.4, 9.99, 12.5, 400):
        assert duration(days * 86400) == duration_words(days * 86400), days
    assert duration(8.4 * 86400) == "8d 10h"
