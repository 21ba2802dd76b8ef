"""SLO alerts from each Snapshot: burn rate (per severity), budget exhausted, no data.

Burn: a severity's alert fires when any of its tiers fires (long AND short burn rate above the
tier's factor), the factors of `budget_percent` tiers derived from the SLO window's nominal length
(`Window.nominal`: a calendar month is 30 days, as in the generated Prometheus rules, whatever the
month's length); it needs a trustworthy SLI (`SloStatus.burn_trusted`: enough units in the SLO
window, or for a calendar one in its last nominal period, so a month's first hours still page). Every SLO
alert resolves once its condition has been false for `resolve_after` (the hysteresis is kept in
memory: after a restart, a condition already false waits `resolve_after` again). That and
`no_data_after` are measured on the monotonic clock: a step of the wall clock neither resolves an
alert nor fires "no data" early. While its condition is false an alert is no longer `confirmed` (not
re-posted to Alertmanager as firing: a replica ahead of this one may have resolved it); if this process had
confirmed it, it is re-posted once with endsAt = when it will resolve (`Firing.ends_at`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from functools import partial
from typing import Any

from slowatch.alerting.book import AlertBook
from slowatch.alerting.events import AlertEvent, burn_key, exhausted_key, left_words, no_data_key
from slowatch.alerting.outbox import Decision
from slowatch.alerting.policy import PolicyBook, SloPolicy, Tier
from slowatch.alerting.suppress import Suppressor
from slowatch.config.schema import Config
from slowatch.durations import format_duration
from slowatch.models import ProbeResult
from slowatch.slo.definitions import SloDef, compile_config
from slowatch.slo.display import exhaustion_basis, times
from slowatch.slo.snapshot import SloState, SloStatus, Snapshot

logger = logging.getLogger(__name__)

SLO_KINDS = ("burn_rate", "budget_exhausted", "no_data")
REMOVED = "SLO, tier or its alerting removed from the config"
HANDED_OVER = {
    "handed_over": True,
    "reason": "Handed over: another shard evaluates this SLO now (resharding), and alerts on it if it still fires",
}
"""The details of the RESOLVED of an SLO alert whose SLO left this shard at a reshard, still in the whole config (an
SLO alert carries `shard`: this shard's alert ends, the new owner's is its own, so every sink is told)."""
FAILING_LISTED = 50
"""The failing endpoints an SLO alert's details list at most (`failing`, in the SLO's endpoint order; how many
there are in all: `failing_total`). Before session 9 every one was listed: in a platform-wide outage a
consumer of 5,000 endpoints had each of its alert events carry ~5 MB (each error up to 1,000 characters) into
the outbox and every webhook receiver, for each consumer affected."""


class SloAlerts:
    def __init__(self, config: Config, book: AlertBook, suppressor: Suppressor, latest: Mapping[str, ProbeResult],
                 whole: Callable[[], Config] | None = None) -> None:  # fmt: skip
        """`whole()`: the whole config when this instance evaluates only its part of it (sharded; `config` is that
        part): an alert the part can no longer fire but the whole can is handed over, not removed (`_moved`)."""
        self.book = book
        self._whole = whole
        self.suppressor = suppressor
        self._latest = latest
        self._no_data_since: dict[tuple[str, str], float] = {}  # Clock.monotonic() first seen without data
        self._mono = 0.0  # Clock.monotonic() of the evaluation in progress
        self.configure(config)

    def configure(self, config: Config, defs: Sequence[SloDef] | None = None) -> None:
        """`defs`: `compile_config(config)` when already worked out (off the event loop, on reload)."""
        self.policies = PolicyBook(config)
        defs = compile_config(config) if defs is None else defs
        self._endpoints = {d.key: d.endpoints for d in defs}
        self._nominal = {d.key: d.window.nominal() for d in defs}  # the length tier factors derive from
        self._possible: set[str] = set()  # every SLO alert key this config can fire
        for consumer, slo in self._endpoints:
            self._possible |= _keys(consumer, slo, self.policies)

    def evaluate(self, snapshot: Snapshot, now: float, mono: float | None = None) -> None:
        """Decide every SLO's alerts from `snapshot` at wall time `now` (`mono`: the monotonic clock, for
        durations; default `now`). Alerts the config can no longer fire (SLO or tier removed, alerting
        disabled) resolve, or are handed over when their SLO left this shard (`_moved`); an SLO merely absent from a
        snapshot is left alone."""
        self._mono = now if mono is None else mono
        decision = Decision(now)
        for st in snapshot.slos:
            policy = self.policies.get(st.consumer, st.slo)
            if policy.enabled:
                self._evaluate_one(st, policy, decision)
        stale = [k for k, f in self.book.firing.items() if f.event.kind in SLO_KINDS and k not in self._possible]
        moved = self._moved(stale) if stale else set()
        for key in stale:
            if key in moved:
                self.book.resolve(key, decision, details=dict(HANDED_OVER))
                logger.info("alert handed over alert=%s reason=another shard evaluates the SLO now", key)
            else:
                self.book.resolve(key, decision, details={"reason": REMOVED})
        self.book.commit(decision)

    def _moved(self, keys: Collection[str]) -> set[str]:
        """Of the alert keys `keys` (this instance's part of the config cannot fire them), those the whole config
        can: their SLO moved to another shard (resharding, or a restart with another `--shard`). Only called when
        an SLO alert went stale (after a reload or a start), so the whole config's policies are worked out here."""
        whole = None if self._whole is None else self._whole()
        if whole is None:
            return set()
        slos = {(c.name, s.name) for c in whole.consumers for s in c.slos}
        policies, out = PolicyBook(whole), set()
        for key in keys:
            event = self.book.firing[key].event
            pair = (event.consumers[0], event.slo) if event.consumers and event.slo else None
            if pair is not None and pair in slos and key in _keys(*pair, policies):
                out.add(key)
        return out

    def _evaluate_one(self, st: SloStatus, policy: SloPolicy, decision: Decision) -> None:
        now = decision.now
        if self.suppressor.slo_in_maintenance(st.consumer, self._endpoints.get((st.consumer, st.slo), ()), now):
            self._hold(st, policy)
            return
        quiet = self.suppressor.slo_suppressed(st.consumer, now, st.slo)
        for severity, tiers in _by_severity(policy.tiers_for(self._nominal_of(st))).items():
            key = burn_key(st.consumer, st.slo, severity)
            firing = st.burn_trusted and any(_tier_fires(st, t) for t in tiers)
            build = partial(self._burn_event, st, severity, tiers, now)
            self._update(key, firing, build, policy, quiet, decision, partial(self._burn_details, st, tiers))
        key = exhausted_key(st.consumer, st.slo)
        # Like burn alerts, only on a trustworthy SLI: 7 probes against 99.5% "exhaust" a budget by noise.
        exhausted = (st.state is SloState.OK and st.budget_remaining is not None
                     and st.budget_remaining <= policy.exhausted_threshold)  # fmt: skip
        build = partial(self._exhausted_event, st, policy, now)
        self._update(key, exhausted, build, policy, quiet, decision, partial(self._slo_details, st))
        key, ident = no_data_key(st.consumer, st.slo), (st.consumer, st.slo)
        if st.state is SloState.NO_DATA:
            since = self._no_data_since.setdefault(ident, self._mono)
        else:
            since = self._no_data_since.pop(ident, self._mono)
        lasted = self._mono - since
        no_data = st.state is SloState.NO_DATA and lasted >= policy.no_data_after
        build = partial(self._no_data_event, st, now - lasted, now)
        self._update(key, no_data, build, policy, quiet, decision, dict)

    def _hold(self, st: SloStatus, policy: SloPolicy) -> None:
        """In maintenance no probe of the SLO counts: its short windows empty out and its alerts would
        resolve (to fire again when the window ends, if the outage outlasts it). They are held as they
        are instead, their resolve_after starting again after the window (one clearing is held firing: re-posted to
        Alertmanager as firing again, not left to end at the endsAt it was told)."""
        severities = {t.severity for t in policy.tiers}
        for key in (*(burn_key(st.consumer, st.slo, s) for s in severities), exhausted_key(st.consumer, st.slo),
                    no_data_key(st.consumer, st.slo)):  # fmt: skip
            if (f := self.book.firing.get(key)) is not None:
                if f.ends_at is not None:  # clearing after this process saw it: held firing, so re-posted again
                    f.confirmed, f.ends_at = True, None
                    f.told_end.clear()
                f.clear_since = None
        self._no_data_since.pop((st.consumer, st.slo), None)

    def _nominal_of(self, st: SloStatus) -> float:
        return self._nominal.get((st.consumer, st.slo), st.window_seconds)

    def _update(self, key: str, condition: bool, build: Callable[[], AlertEvent], policy: SloPolicy,
                quiet: str | None, decision: Decision, details: Callable[[], dict[str, Any]]) -> None:  # fmt: skip
        f = self.book.firing.get(key)
        if condition:
            if f is None:
                self.book.fire(build(), quiet, decision)
            else:
                f.clear_since, f.confirmed, f.ends_at = None, True, None
                f.told_end.clear()
                if not f.notified and quiet is None:
                    self.book.notify(key, decision)
        elif f is not None:
            if f.clear_since is None:
                f.clear_since = self._mono
                if f.confirmed:  # told firing by this process: tell when it will end (AlertService._firing_for)
                    f.ends_at = decision.now + policy.resolve_after
            f.confirmed = False  # no longer re-posted as firing: a peer may have resolved it already
            if self._mono - f.clear_since >= policy.resolve_after:
                self.book.resolve(key, decision, details=details())

    def _failing(self, st: SloStatus) -> tuple[list[dict[str, str]], int]:
        """The first FAILING_LISTED failing endpoints of the SLO (each with its error) and how many fail."""
        out, total = [], 0
        for name in self._endpoints.get((st.consumer, st.slo), ()):
            r = self._latest.get(name)
            if r is not None and not r.ok:
                total += 1
                if total <= FAILING_LISTED:
                    out.append({"endpoint": name, "error": r.message or r.outcome.value})
        return out, total

    def _slo_details(self, st: SloStatus) -> dict[str, Any]:
        remaining = st.budget_remaining
        failing, failing_total = self._failing(st)
        return {
            "objective": st.objective, "slo_window": st.window, "time_zone": st.time_zone or None,
            "sli": st.sli, "budget_remaining": remaining,
            "budget_consumed": None if remaining is None else 1.0 - remaining,
            "time_to_exhaustion": st.time_to_exhaustion, "time_to_exhaustion_basis": exhaustion_basis(st),
            "failing": failing, "failing_total": failing_total,
        }  # fmt: skip

    def _burn_details(self, st: SloStatus, tiers: list[Tier]) -> dict[str, Any]:
        windows, nominal = [], self._nominal_of(st)
        for t in tiers:
            lw, sw = _window(st, t.long), _window(st, t.short)
            lb = lw.burn_rate if lw else None
            windows.append({
                "long": format_duration(t.long), "short": format_duration(t.short), "factor": t.factor,
                "budget_percent": t.budget_percent, "long_burn": lb, "short_burn": sw.burn_rate if sw else None,
                "consumed": None if lb is None else lb * t.long / nominal, "firing": _tier_fires(st, t),
            })  # fmt: skip
        return {**self._slo_details(st), "windows": windows}

    def _burn_event(self, st: SloStatus, severity: str, tiers: list[Tier], now: float) -> AlertEvent:
        d = self._burn_details(st, tiers)
        hot = next(w for w in d["windows"] if w["firing"])
        summary = (f"{st.consumer}/{st.slo} is burning its error budget {times(hot['long_burn'], 'x')} over "
                   f"{hot['long']} (threshold {times(hot['factor'], 'x')}); {_left(st.budget_remaining)}")  # fmt: skip
        return AlertEvent(burn_key(st.consumer, st.slo, severity), "burn_rate", "firing", severity, now, now,
                          f"{st.consumer} · {st.slo}: error budget burning fast", summary,
                          (st.consumer,), st.slo, "", 0, d)  # fmt: skip

    def _exhausted_event(self, st: SloStatus, policy: SloPolicy, now: float) -> AlertEvent:
        summary = f"{st.consumer}/{st.slo}: {_left(st.budget_remaining)}"
        return AlertEvent(exhausted_key(st.consumer, st.slo), "budget_exhausted", "firing",
                          policy.exhausted_severity, now, now, f"{st.consumer} · {st.slo}: error budget exhausted",
                          summary, (st.consumer,), st.slo, "", 0,
                          {**self._slo_details(st), "threshold": policy.exhausted_threshold})  # fmt: skip

    def _no_data_event(self, st: SloStatus, since: float, now: float) -> AlertEvent:
        summary = f"no probe results counted for {st.consumer}/{st.slo} for {format_duration(round(now - since))}"
        policy = self.policies.get(st.consumer, st.slo)
        return AlertEvent(no_data_key(st.consumer, st.slo), "no_data", "firing", policy.no_data_severity,
                          now, now, f"{st.consumer} · {st.slo}: no data", summary, (st.consumer,), st.slo, "", 0,
                          {**self._slo_details(st), "no_data_for": now - since})  # fmt: skip


def _keys(consumer: str, slo: str, policies: PolicyBook) -> set[str]:
    """Every alert key SLO `consumer`/`slo` can fire under `policies` (none with its alerting disabled)."""
    policy = policies.get(consumer, slo)
    if not policy.enabled:
        return set()
    return {exhausted_key(consumer, slo), no_data_key(consumer, slo)} | {
        burn_key(consumer, slo, t.severity) for t in policy.tiers
    }


def _by_severity(tiers: tuple[Tier, ...]) -> dict[str, list[Tier]]:
    out: dict[str, list[Tier]] = {}
    for t in tiers:
        out.setdefault(t.severity, []).append(t)
    return out


def _window(st: SloStatus, seconds: float) -> Any:
    return next((w for w in st.windows if w.seconds == seconds), None)


def _tier_fires(st: SloStatus, t: Tier) -> bool:
    lw, sw = _window(st, t.long), _window(st, t.short)
    if lw is None or sw is None or lw.burn_rate is None or sw.burn_rate is None:
        return False
    return bool(lw.burn_rate > t.factor and sw.burn_rate > t.factor)


def _left(ratio: float | None) -> str:
    return "error budget left: n/a" if ratio is None else left_words(ratio)


__all__ = ["HANDED_OVER", "REMOVED", "SLO_KINDS", "SloAlerts"]
