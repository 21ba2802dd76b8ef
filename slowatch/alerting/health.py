"""Endpoint down/up alerts from streaks of final probe results. O(1) per result, no I/O.

An endpoint is down after `failure_threshold` consecutive failures and up again after
`success_threshold` consecutive successes. Streaks are persisted (capped at the thresholds, so a
steady endpoint writes nothing) and restored at start: a restart neither re-alerts nor forgets a
half-built streak. While down, a reminder goes out every `reminder_interval` (when set).
Along `depends_on`, a dependent's alert is covered by its root's (slowatch/alerting/dependencies.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from slowatch.alerting.book import AlertBook
from slowatch.alerting.dependencies import Dependencies, DependencyPlan
from slowatch.alerting.events import AlertEvent, endpoint_key
from slowatch.alerting.outbox import Decision
from slowatch.alerting.suppress import QUORUM, Suppressor
from slowatch.config.alerting import EndpointAlerts
from slowatch.config.consumers import EndpointIndex, resolve_endpoints
from slowatch.config.endpoints import Endpoint
from slowatch.config.schema import Config
from slowatch.models import ProbeResult
from slowatch.probes.registry import describe_target


def root_cause_suffix(dependents: Sequence[str]) -> str:
    """What a root cause's summary adds to its own: `; root cause for 2 dependent endpoint(s): pay, far`."""
    shown = ", ".join(dependents[:10]) + (f" and {len(dependents) - 10} more" if len(dependents) > 10 else "")
    return f"; root cause for {len(dependents)} dependent endpoint(s): {shown}"


@dataclass(slots=True)
class Streak:
    fails: int = 0
    oks: int = 0


@dataclass(frozen=True, slots=True)
class HealthConfig:
    """What EndpointHealth needs of a config, per endpoint. A pure function of the Config (no shared state):
    safe to build in a thread."""

    endpoints: dict[str, Endpoint]
    alerts: dict[str, EndpointAlerts]
    consumers: dict[str, tuple[str, ...]]
    deps: DependencyPlan | None = None
    """The endpoints' dependencies (None: worked out by `configure`)."""
    targets: dict[str, str] = field(default_factory=dict)
    """Each endpoint's redacted target, described when its first alert is (1 s for 100,000 endpoints up front)."""
    members: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Each consumer's endpoints (the inverse of `consumers`)."""

    @classmethod
    def of(cls, config: Config) -> HealthConfig:
        consumers: dict[str, list[str]] = {}
        members: dict[str, tuple[str, ...]] = {}
        index = EndpointIndex(config.endpoints)  # built once: resolving per consumer costs 0.4 s at 10,000
        for c in config.consumers:
            members[c.name] = tuple(resolve_endpoints(c.endpoints, index))
            for name in members[c.name]:
                consumers.setdefault(name, []).append(c.name)
        endpoints = {ep.name: ep for ep in config.endpoints}
        alerts = {name: ep.alerts for name, ep in endpoints.items()}
        deps = DependencyPlan.of(config)
        return cls(endpoints, alerts, {k: tuple(v) for k, v in consumers.items()}, deps, members=members)

    def alerting(self, name: str) -> bool:
        """Whether `name` has an endpoint-down alert (and a `SlowatchEndpointDown` rule)."""
        ep = self.endpoints.get(name)
        return ep is not None and ep.enabled and ep.alerts.enabled

    def target(self, name: str) -> str:
        target = self.targets.get(name)
        if target is None:
            ep = self.endpoints.get(name)
            target = self.targets[name] = "" if ep is None else describe_target(ep)
        return target


class EndpointHealth:
    def __init__(self, config: Config, book: AlertBook, suppressor: Suppressor) -> None:
        self.book = book
        self.suppressor = suppressor
        self.streaks: dict[str, Streak] = {}
        state = HealthConfig.of(config)
        self.deps = Dependencies(config, state.deps)
        self.configure(config, state)

    def configure(self, config: Config, prepared: HealthConfig | None = None) -> None:
        """Take `config`'s per-endpoint settings: `prepared` (`HealthConfig.of(config)`, worked out off the
        event loop: ~1 s at 100,000 endpoints) or, without it, worked out here."""
        state = prepared if prepared is not None else HealthConfig.of(config)
        self._state, self._alerts, self._consumers = state, state.alerts, state.consumers
        self.deps.configure(config, state.deps)

    def restore(self, streaks: dict[str, tuple[int, int]]) -> None:
        self.streaks = {k: Streak(f, o) for k, (f, o) in streaks.items()}

    @property
    def state(self) -> HealthConfig:
        return self._state

    def consumers_of(self, endpoint: str) -> tuple[str, ...]:
        return self._consumers.get(endpoint, ())

    def observe(self, result: ProbeResult, now: float) -> None:
        cfg = self._alerts.get(result.endpoint)
        if cfg is None or not result.final:
            return
        name = result.endpoint
        key = endpoint_key(name)
        if not cfg.enabled:
            if key in self.book.firing:
                decision = Decision(now)
                off = {"reason": "alerting turned off for the endpoint in the config (alerts.enabled: false)"}
                self.book.resolve(key, decision, send=cfg.send_resolved, details=off)
                self.book.commit(decision)
            return
        s = self.streaks.get(name)
        if s is None:
            s = self.streaks[name] = Streak()
        before = (s.fails, s.oks)
        if result.ok:
            s.fails, s.oks = 0, min(s.oks + 1, cfg.success_threshold)
        else:
            s.fails, s.oks = min(s.fails + 1, cfg.failure_threshold), 0
        firing = self.book.firing.get(key)
        if firing is not None:
            firing.confirmed = not result.ok  # re-posted to Alertmanager only while it fails (AlertBook.Firing)
        up_and_fine = result.ok and firing is None
        down_and_told = not result.ok and firing is not None and firing.notified and cfg.reminder_interval is None
        if (s.fails, s.oks) == before and (up_and_fine or down_and_told):
            return  # the steady state: nothing to decide, nothing to write
        decision = Decision(now)
        if result.ok:
            if firing is not None and s.oks >= cfg.success_threshold:
                details: dict[str, object] = {"recovered_at": result.started_at}
                if affected := self.deps.outage_ended(name, now):
                    details["dependents_affected"] = affected
                self.deps.forget(name)
                self.book.resolve(key, decision, send=cfg.send_resolved, details=details)
            for held in self.deps.released(name):
                self._recheck(held, decision)
        else:
            self._failed(result, cfg, s, decision)
        if (s.fails, s.oks) != before:
            decision.streaks[name] = (s.fails, s.oks)
        self.book.commit(decision)

    def _failed(self, result: ProbeResult, cfg: EndpointAlerts, s: Streak, decision: Decision) -> None:
        name, now = result.endpoint, decision.now
        key = endpoint_key(name)
        firing = self.book.firing.get(key)
        if firing is None and s.fails < cfg.failure_threshold:
            return
        suppressed = self.suppressor.endpoint_suppressed(name, self.consumers_of(name), now)
        if suppressed in (None, QUORUM) and (not firing or not firing.notified):
            cover = self.deps.cover(name, result.started_at, now, self._down, self._suspect)
            suppressed = cover.reason if cover is not None else suppressed
        if firing is None:
            event = self._event(result, cfg, now)
            if dependents := self.deps.dependents(name):
                event = self._root_event(event, dependents)
            self.book.fire(event, suppressed, decision)
        elif not firing.notified and suppressed is None:
            self.book.notify(key, decision)
        elif firing.notified and cfg.reminder_interval is not None and suppressed is None:
            last = firing.last_sent if firing.last_sent is not None else firing.event.since
            if now < last:  # the wall clock stepped back behind the last notice: the interval runs from now
                firing.last_sent = last = now  # (not until the clock passes it again: a step's length more)
            if now - last >= cfg.reminder_interval:
                # n names the reminder (its event id): after a step back it must still follow the last one's, or
                # it repeats that id (a webhook receiver drops it as a duplicate; its outbox row is not written)
                n = max(1, int((now - firing.event.since) // cfg.reminder_interval), firing.reminded + 1)
                self.book.remind(key, n, decision)
        if suppressed == QUORUM:  # held by nothing but the quorum: the rules' page may be out (Firing.released)
            self.book.firing[key].released = True

    def _event(self, r: ProbeResult, cfg: EndpointAlerts, now: float) -> AlertEvent:
        error = r.message or r.outcome.value
        details = {
            "target": self._state.target(r.endpoint), "error": error, "outcome": r.outcome.value,
            "status_code": r.status_code, "failures": cfg.failure_threshold, "threshold": cfg.failure_threshold,
        }  # fmt: skip
        return AlertEvent(
            alert_key=endpoint_key(r.endpoint), kind="endpoint_down", status="firing", severity=cfg.severity,
            since=r.started_at, ts=now, title=f"endpoint {r.endpoint} is down",
            summary=f"{r.endpoint} failed {cfg.failure_threshold} times in a row: {error}",
            consumers=self.consumers_of(r.endpoint), endpoint=r.endpoint, details=details,
        )  # fmt: skip

    def _down(self, name: str) -> bool:
        return endpoint_key(name) in self.book.firing

    def _suspect(self, name: str) -> bool:
        s = self.streaks.get(name)
        return s is None or s.fails > 0

    def _recheck(self, name: str, decision: Decision) -> None:
        """A held dependent whose ancestor just answered: page it now unless still covered or held."""
        firing = self.book.firing.get(endpoint_key(name))
        if firing is None or firing.notified:
            self.deps.forget(name)
            return
        if self.suppressor.endpoint_suppressed(name, self.consumers_of(name), decision.now) is not None:
            return
        if self.deps.cover(name, firing.event.since, decision.now, self._down, self._suspect) is None:
            self.book.notify(endpoint_key(name), decision)

    def _root_event(self, event: AlertEvent, dependents: tuple[str, ...]) -> AlertEvent:
        """The root cause's page: which dependents (failing now or not) and consumers it affects."""
        failing = [d for d in dependents if (s := self.streaks.get(d)) is not None and s.fails > 0]
        self.deps.outage_started(event.endpoint, failing)
        consumers = dict.fromkeys(event.consumers)
        for d in dependents:
            consumers.update(dict.fromkeys(self.consumers_of(d)))
        summary = event.summary + root_cause_suffix(dependents)
        details = {**event.details, "dependents": list(dependents), "dependents_failing": failing}
        return replace(event, summary=summary, consumers=tuple(consumers), details=details)

    def forget(self, live: set[str], stale: Iterable[str] | None = None) -> tuple[set[str], list[str]]:
        """Drop streaks of endpoints that are gone (those named in `stale`, when given: found off the event
        loop); return their names (their stored rows go too) and the firing alert keys to resolve."""
        dropped = set(self.streaks) - live if stale is None else set(stale)
        for name in dropped:
            self.streaks.pop(name, None)
        return dropped, [
            k for k, f in self.book.firing.items() if f.event.kind == "endpoint_down" and f.event.endpoint not in live
        ]

    def gone_because(self, key: str) -> str:
        """Why the endpoint of alert `key`, gone from the live set (`forget`), is no longer probed here: the reason
        its RESOLVED gives (it may still be down: no recovery was seen)."""
        f = self.book.firing.get(key)
        known = f is not None and f.event.endpoint in self._state.endpoints  # (in the config, so not enabled)
        return "endpoint disabled in the config (enabled: false)" if known else "endpoint removed from the config"


__all__ = ["EndpointHealth", "HealthConfig", "Streak", "root_cause_suffix"]
