"""Run a real Daemon (FakeClock, real SQLite file, its HTTP face on a loopback port) over a scenario and compare
what its API and /metrics say with the oracle (tests/slo/oracle.py) at chosen instants."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from slowatch.clock import FakeClock
from slowatch.config import load_text
from slowatch.daemon import Daemon
from slowatch.models import Outcome, ProbeResult
from tests.slo.oracle import Figures, Probe, Spec, figures

Key = tuple[str, str]


async def get(daemon: Daemon, path: str) -> str:
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{daemon.bound_port}{path}") as r:
        assert r.status == 200, (path, r.status)
        return await r.text()


def metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.startswith("slowatch_slo_"):
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@dataclass
class Seen:
    """What the daemon showed at one instant, per SLO: the API's dict, /metrics, firing burn severities."""

    api: dict[Key, dict[str, Any]]
    prom: dict[tuple[str, tuple[tuple[str, str], ...]], float]
    firing: dict[Key, set[str]] = field(default_factory=dict)

    def gauge(self, name: str, key: Key, window: str | None = None) -> float | None:
        labels = {"consumer": key[0], "slo": key[1]} | ({"window": window} if window else {})
        return self.prom.get((name, tuple(sorted(labels.items()))))


async def look(daemon: Daemon) -> Seen:
    snap = daemon._slo.refresh()
    daemon._alerts.evaluate(snap)
    body = json.loads(await get(daemon, "/api/v1/consumers"))
    api = {(c["name"], s["slo"]): s for c in body["consumers"] for s in c["slos"]}
    seen = Seen(api, metrics(await get(daemon, "/metrics")))
    for a in json.loads(await get(daemon, "/api/v1/alerts"))["alerts"]:
        if a["kind"] == "burn_rate":
            seen.firing.setdefault((a["consumers"][0], a["slo"]), set()).add(a["severity"])
    return seen


WINDOW_LABELS = {300: "5m", 1800: "30m", 3600: "1h", 7200: "2h", 21600: "6h", 86400: "1d", 259200: "3d"}


def approx(x: float | None) -> Any:
    return None if x is None else pytest.approx(x, rel=1e-9, abs=1e-9)


def compare(seen: Seen, key: Key, want: Figures, label: str, at: str, short: int = 0) -> list[str]:
    """Every disagreement between the daemon and the oracle for one SLO, as lines."""
    got = seen.api[key]
    bad: list[str] = []

    def check(what: str, have: object, expect: object) -> None:
        if expect is None and have is None:
            return
        if expect is None or have is None or have != expect:
            bad.append(f"{at} {key[0]}/{key[1]} {what}: daemon {have!r}, oracle {expect!r}")

    check("good", got["good"], want.good)
    check("total", got["total"], want.total)
    check("state", got["state"], want.state)
    check("sli", got["sli"], approx(want.sli))
    check("budget_remaining", got["budget_remaining"], approx(want.remaining))
    check("burn_rate", got["burn_rate"], approx(want.burn))
    check("time_to_exhaustion", got["time_to_exhaustion"], approx(want.tte))
    check("data_seconds", got["data_seconds"] if want.total else None, approx(want.data_seconds or None))
    check("trust_total", got["trust_total"], want.trust_total)
    burns = {w["seconds"]: w["burn_rate"] for w in got["windows"]}
    for seconds, b in want.windows.items():
        if seconds > short > 0:
            continue  # (a rebuilt ledger's alerting windows hold only the raw results: README, How it is kept)
        check(f"burn {WINDOW_LABELS[seconds]}", burns.get(seconds), approx(b))
        if WINDOW_LABELS[seconds] != label:
            check(f"/metrics burn {WINDOW_LABELS[seconds]}",
                  seen.gauge("slowatch_slo_burn_rate", key, WINDOW_LABELS[seconds]), approx(b))  # fmt: skip
    check("/metrics sli", seen.gauge("slowatch_slo_sli_ratio", key, label), approx(want.sli))
    check("/metrics burn", seen.gauge("slowatch_slo_burn_rate", key, label), approx(want.burn))
    trusted = want.state == "ok"
    check("/metrics remaining", seen.gauge("slowatch_slo_error_budget_remaining_ratio", key),
          approx(want.remaining if trusted else None))  # fmt: skip
    check("/metrics tte", seen.gauge("slowatch_slo_time_to_exhaustion_seconds", key),
          approx(want.tte if trusted else None))  # fmt: skip
    check("/metrics no_data", seen.gauge("slowatch_slo_no_data", key), float(want.state == "no_data"))
    if want.firing is not None:
        check("firing", sorted(seen.firing.get(key, ())), sorted(want.firing))
    return bad


def to_result(p: Probe) -> ProbeResult:
    return ProbeResult(p.endpoint, "http", Outcome(p.outcome), p.ts, p.duration, final=p.final)


async def run_scenario(
    daemon: Daemon,
    clock: FakeClock,
    probes: Sequence[Probe],
    specs: Mapping[Key, Spec],
    checkpoints: Iterable[float],
    skip: int = 0,
    short: int = 0,
    persist: float = 0.0,
) -> list[str]:
    """Feed `probes[skip:]` (sorted; the first `skip` were fed before) through the daemon's probe path; at each
    checkpoint compare every SLO of `specs` with the oracle over all of `probes` (`short`: only the alerting
    windows up to that long; `persist`: save the SLO cells every so many seconds of the feed, as the daemon does
    every 5 s, so the database holds what has left the ledger's rings)."""
    labels: dict[Key, str] = {}
    problems: list[str] = []
    i = skip
    for at in sorted(checkpoints):
        while i < len(probes) and probes[i].ts <= at:
            if persist and i > skip and probes[i].ts // persist != probes[i - 1].ts // persist:
                daemon._slo.persist()
            clock.set(probes[i].ts)
            daemon.on_result(to_result(probes[i]))
            i += 1
        clock.set(at)
        seen = await look(daemon)
        if not labels:
            labels = {k: seen.api[k]["window"] for k in specs}
        stamp = _iso(at)
        for key, spec in specs.items():
            problems += compare(seen, key, figures(spec, probes, at), labels[key], stamp, short)
    return problems


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def start(text: str, clock: FakeClock) -> Daemon:
    daemon = Daemon(load_text(text, env={}), clock=clock)
    await daemon.start(schedule=False)
    return daemon


__all__ = ["Seen", "get", "look", "run_scenario", "start"]
