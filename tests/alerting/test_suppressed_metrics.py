"""`slowatch_endpoint_suppressed{endpoint, reason}`: a series only while slowatch holds an endpoint's page.

Real probes against local targets, a real store, on the daemon's FakeClock; the exposition checked by
Debian's promtool.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
from pathlib import Path
from typing import Any

from slowatch.alerting.cli import silence
from slowatch.alerting.suppress import silence_key
from tests.alerting.conftest import http_endpoint, make_config, slack_sink
from tests.alerting.fakes import FakeReceiver, Target
from tests.alerting.test_delivery import metrics_text
from tests.generate.conftest import binary

SERIES = "slowatch_endpoint_suppressed{"


def held(rig: Any) -> list[str]:
    text = metrics_text(rig)
    check = subprocess.run([binary("promtool"), "check", "metrics"], input=text, capture_output=True, text=True,
                           timeout=60, check=False)  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    return sorted(line for line in text.splitlines() if line.startswith(SERIES))


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


def line(endpoint: str, reason: str) -> str:
    return f'{SERIES}endpoint="{endpoint}",reason="{reason}"}} 1.0'


async def test_a_maintenance_window_has_a_series_from_its_start_to_its_end_by_the_daemons_clock(
    tmp_path: Path, target: Target, rig: Any, clock: Any
) -> None:
    """`a` has a window of its own; `b` and `c` are covered through their consumers: `b`'s only consumer is in
    maintenance, `c` has a second consumer that is not, so slowatch would page `c` (no series)."""
    now = clock.time()
    config = make_config(
        tmp_path,
        endpoints=[
            *(http_endpoint(n, target.url()) for n in ("a", "b", "c")),
            http_endpoint("off", target.url(), enabled=False),
        ],
        consumers=[{"name": "shop", "endpoints": ["b", "c"]}, {"name": "ops", "endpoints": ["c"]}],
        maintenance=[
            {"name": "patch", "endpoints": ["a", "off"], "start": iso(now + 100), "end": iso(now + 200)},
            {"name": "move", "consumers": ["shop"], "start": iso(now + 150), "end": iso(now + 300)},
        ],
    )
    r = await rig(config)
    assert held(r) == []
    clock.advance(100)
    assert held(r) == [line("a", "maintenance")]  # `off` has no down alert: no series
    clock.advance(50)
    assert held(r) == [line("a", "maintenance"), line("b", "maintenance")]
    clock.advance(50)
    assert held(r) == [line("b", "maintenance")]
    clock.advance(100)
    assert held(r) == []


async def test_a_silence_from_the_cli_has_a_series_until_it_expires(
    tmp_path: Path, target: Target, rig: Any, clock: Any
) -> None:
    config = make_config(
        tmp_path,
        endpoints=[http_endpoint(n, target.url()) for n in ("a", "b")],
        consumers=[{"name": "shop", "endpoints": ["b"]}],
        alerting={"evaluate_interval": "50ms"},
    )
    r = await rig(config)
    until = dt.datetime.fromtimestamp(clock.time() + 600, dt.UTC)
    for kind, name in (("endpoint", "a"), ("consumer", "shop")):
        _, code = await asyncio.to_thread(silence, config, kind, name, until, "migration")
        assert code == 0
    for _ in range(100):  # the daemon reads silences at every evaluation
        if len(held(r)) == 2:
            break
        await asyncio.sleep(0.05)
    assert held(r) == [line("a", "silence"), line("b", "silence")]
    clock.advance(599)
    assert len(held(r)) == 2
    clock.advance(1)
    assert held(r) == []


async def test_a_page_already_sent_is_not_held_by_a_later_silence(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any, clock: Any
) -> None:
    """slowatch keeps a sent page firing through a silence (it resolves when the endpoint recovers): no series,
    so the rules keep theirs firing too rather than resolving it while the endpoint is down. `b`, silenced
    before it fails, is held throughout."""
    config = make_config(
        tmp_path,
        endpoints=[http_endpoint(n, target.url(), failure_threshold=1) for n in ("a", "b")],
        sinks={"oncall": slack_sink(receiver.url())},
        routes=[{"match": {}, "sinks": ["oncall"]}],
    )
    r = await rig(config)
    target.up = False
    await r.probe("a")
    await receiver.wait_acked(1)
    until = {"until": clock.time() + 3600, "reason": "late"}
    r.service.suppressor.load_stored({silence_key("endpoint", n): until for n in ("a", "b")})  # as from the store
    assert held(r) == [line("b", "silence")]
    await r.probe("b")
    await r.probe("a")
    assert held(r) == [line("b", "silence")]
    assert {k: f.notified for k, f in r.service.book.firing.items()} == {"endpoint:a": True, "endpoint:b": False}


async def test_dependents_of_a_failing_endpoint_are_held_from_their_first_failure(
    tmp_path: Path, receiver: FakeReceiver, rig: Any
) -> None:
    targets = {n: await Target().start() for n in ("db", "api", "web", "solo")}
    try:
        endpoints = []
        for name, t in targets.items():
            ep = http_endpoint(name, t.url(), failure_threshold=2, success_threshold=1)
            ep["depends_on"] = {"api": ["db"], "web": ["api"]}.get(name, [])
            endpoints.append(ep)
        config = make_config(tmp_path, endpoints=endpoints, sinks={"oncall": slack_sink(receiver.url())},
                             routes=[{"match": {}, "sinks": ["oncall"]}])  # fmt: skip
        r = await rig(config)
        firing = r.service.book.firing
        for name in targets:
            await r.probe(name, step=1.0)
        targets["api"].up = targets["solo"].up = False
        await r.probe("api")
        assert held(r) == []  # db, api's dependency, is fine: api fails on its own
        await r.probe("api")
        assert firing["endpoint:api"].notified
        targets["web"].up = targets["db"].up = False
        await r.probe("web")
        assert held(r) == [line("web", "dependency")]  # from web's first failure, before its threshold
        await r.probe("web")
        assert not firing["endpoint:web"].notified  # covered by api's page
        await r.probe("db")
        await r.probe("solo")
        # db failing: api's page is already out, solo depends on nothing
        assert held(r) == [line("web", "dependency")]
        targets["db"].up = targets["api"].up = True
        await r.probe("db")
        await r.probe("api")  # api's outage is over: web, still down, is paged at its next failure
        assert held(r) == []
        await r.probe("web")
        assert firing["endpoint:web"].notified
        targets["web"].up = True
        await r.probe("web")
        assert held(r) == []
    finally:
        for t in targets.values():
            await t.close()


async def test_a_location_does_not_hold_a_quorum_page_the_rules_may_have_sent(
    tmp_path: Path, receiver: FakeReceiver, rig: Any
) -> None:
    """On a location, a quorum endpoint's own alert is never notified (the rules page), yet once it fires
    unheld the rules' page may be out: a silence or window starting later must not take it back (the series
    ended it, as for a page slowatch sent itself). `b`, silenced before it fails, is held throughout; `web`,
    failing while its dependency `api` is down here, stays held as a dependency until `api` is back."""
    targets = {n: await Target().start() for n in ("a", "b", "api", "web")}
    try:
        endpoints = []
        for name, t in targets.items():
            ep = http_endpoint(name, t.url(), failure_threshold=1, success_threshold=1, locations={"quorum": 2})
            ep["depends_on"] = ["api"] if name == "web" else []
            endpoints.append(ep)
        server = {"database": str(tmp_path / "eu.db"), "cluster": {"locations": ["eu", "us"], "location": "eu"}}
        config = make_config(tmp_path, server=server, endpoints=endpoints,
                             sinks={"oncall": slack_sink(receiver.url())},
                             routes=[{"match": {}, "sinks": ["oncall"]}])  # fmt: skip
        r = await rig(config)
        clock = r.clock
        for name in targets:
            await r.probe(name, step=1.0)
        for t in targets.values():
            t.up = False
        await r.probe("a")
        await r.probe("api")
        await r.probe("web")
        assert held(r) == [line("web", "dependency")]
        until = {"until": clock.time() + 3600, "reason": "late"}
        r.service.suppressor.load_stored({silence_key("endpoint", n): until for n in ("a", "b")})
        assert held(r) == [line("b", "silence"), line("web", "dependency")]  # not `a`: its page may be out
        await r.probe("b")
        await r.probe("a")
        await r.probe("web")
        assert held(r) == [line("b", "silence"), line("web", "dependency")]
        targets["api"].up = True
        await r.probe("api")
        await r.probe("web")  # api is back: web, still down, is the rules' to page now
        assert held(r) == [line("b", "silence")]
        assert all(not f.notified for f in r.service.book.firing.values())
        assert receiver.attempts == []
    finally:
        for t in targets.values():
            await t.close()


async def test_the_alerts_api_says_why_an_alert_was_not_sent(tmp_path: Path, target: Target, rig: Any) -> None:
    """`/api/v1/alerts` (`firing_view`) lists an alert sent to no sink with `suppressed: true` and the reason: on an
    instance with a location, `location quorum` for an endpoint whose page is the rules' (a local blip looks like
    this there), `silence` for a silenced one (the reasons of `slowatch_endpoint_suppressed`); a sent alert has none."""
    config = make_config(
        tmp_path,
        server={"database": str(tmp_path / "alerts.db"), "cluster": {"location": "eu", "locations": ["eu", "us"]}},
        endpoints=[
            http_endpoint("q", target.url(), failure_threshold=1, locations={"quorum": 2}),
            http_endpoint("s", target.url(), failure_threshold=1),
            http_endpoint("p", target.url(), failure_threshold=1),
        ],
    )
    r = await rig(config)
    until = {"until": r.clock.time() + 3600, "reason": "known"}
    r.service.suppressor.load_stored({silence_key("endpoint", "s"): until})  # as from the store
    target.up = False
    for name in ("q", "s", "p"):
        await r.probe(name, step=0)
    view = {a["endpoint"]: (a["suppressed"], a["suppressed_reason"]) for a in r.service.firing_view()}
    assert view == {"q": (True, "location quorum"), "s": (True, "silence"), "p": (False, None)}
