"""Who is silenced or in maintenance right now: decides whether an alert is notified.

Silences come from config (`silences:`) and from `slowatch silence` (the store's `state` table,
key `alerting.silence.<consumer|endpoint>.<name>`, value `{"until": unix seconds, "reason": ...}`).

An SLO alert is suppressed while its consumer is silenced or in a consumer maintenance window.
While none of an SLO's probes count (`slo_in_maintenance`), its firing alerts are held: burn.py
neither resolves them nor fires new ones, as nothing can be judged.
An endpoint alert is suppressed while the endpoint is silenced or in maintenance, or while every
consumer depending on it is (an endpoint nobody else watches is not kept quiet by one consumer).
Which endpoints are held now is exported (`slowatch_endpoint_suppressed`, slowatch/alerting/held.py, from
`quiet()`) so the generated Prometheus rules hold theirs too.

On an instance with a `location` (server.cluster or `run --location`), an endpoint alert or SLO with
`locations: {quorum: q}` is always suppressed here (reason `location quorum`): whether at least q locations
see it fail is judged by the generated Prometheus rules (their `SlowatchEndpointDown`, `quorum_failed`),
which page; this location's own alert is recorded and shown (/api/v1/alerts) but notified to no sink, so
a network blip near one monitor pages no one, and an outage seen everywhere pages once, not once per location.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from slowatch.config.schema import Config
from slowatch.slo.maintenance import MaintenanceCalendar, any_active

SILENCE_PREFIX = "alerting.silence."
QUORUM = "location quorum"
"""Why a location's own alert is not notified: the Prometheus rules judge the quorum (see above)."""


def silence_key(target: str, name: str) -> str:
    return f"{SILENCE_PREFIX}{target}.{name}"


class Suppressor:
    def __init__(self, config: Config) -> None:
        self._calendar = MaintenanceCalendar(config)
        self._configured: dict[tuple[str, str], float] = {}
        for s in config.silences:
            target = ("consumer", s.consumer) if s.consumer is not None else ("endpoint", s.endpoint or "")
            self._configured[target] = max(self._configured.get(target, 0.0), s.until.timestamp())
        self._silences = dict(self._configured)
        located = config.server.cluster is not None and config.server.cluster.location is not None
        self._quorum_endpoints = {e.name for e in config.endpoints if located and e.alerts.locations is not None}
        self._quorum_slos = {
            (c.name, slo.name) for c in config.consumers for slo in c.slos if located and slo.locations is not None
        }

    def load_stored(self, states: Mapping[str, Any]) -> None:
        """Merge the CLI's silences (from `store.get_states(SILENCE_PREFIX)`) with the configured ones."""
        merged = dict(self._configured)
        for key, value in states.items():
            target, _, name = key.removeprefix(SILENCE_PREFIX).partition(".")
            if target in ("consumer", "endpoint") and isinstance(value, dict):
                until = value.get("until")
                if isinstance(until, int | float):
                    merged[(target, name)] = max(merged.get((target, name), 0.0), float(until))
        self._silences = merged

    def silenced(self, target: str, name: str, ts: float) -> bool:
        return self._silences.get((target, name), 0.0) > ts

    def consumer_quiet(self, consumer: str, ts: float) -> str | None:
        if self.silenced("consumer", consumer, ts):
            return "silenced"
        if any_active(self._calendar.rules(consumer, ""), ts):
            return "maintenance"
        return None

    def slo_suppressed(self, consumer: str, ts: float, slo: str = "") -> str | None:
        quiet = self.consumer_quiet(consumer, ts)
        return quiet if quiet is not None or (consumer, slo) not in self._quorum_slos else QUORUM

    def slo_in_maintenance(self, consumer: str, endpoints: Sequence[str], ts: float) -> bool:
        """Whether none of an SLO's probes count now: its consumer, or every one of its endpoints, is in
        maintenance. O(1) when the consumer's is active or an endpoint has none (they stop the scan)."""
        if any_active(self._calendar.rules(consumer, ""), ts):
            return True
        return bool(endpoints) and all(self._calendar.excluded(consumer, e, ts) for e in endpoints)

    def endpoint_suppressed(self, endpoint: str, consumers: Sequence[str], ts: float) -> str | None:
        if self.silenced("endpoint", endpoint, ts):
            return "silenced"
        if any_active(self._calendar.rules("", endpoint), ts):
            return "maintenance"
        if consumers:
            reasons = [self.consumer_quiet(c, ts) for c in consumers]
            if all(reasons):
                return reasons[0]
        return QUORUM if endpoint in self._quorum_endpoints else None

    def quiet(self, ts: float) -> tuple[dict[str, str], dict[str, str]]:
        """The endpoints and the consumers silenced or in a maintenance window of their own at `ts`, with the
        reason `consumer_quiet` / `endpoint_suppressed` give (a silence first): O(silences + windows + what
        they cover), not O(endpoints)."""
        in_consumers, in_endpoints = self._calendar.active(ts)
        endpoints: dict[str, str] = {}
        consumers: dict[str, str] = {}
        for (target, name), until in self._silences.items():
            if until > ts:
                (consumers if target == "consumer" else endpoints)[name] = "silenced"
        for name in in_endpoints:
            endpoints.setdefault(name, "maintenance")
        for name in in_consumers:
            consumers.setdefault(name, "maintenance")
        return endpoints, consumers

    def active(self, ts: float) -> dict[str, float]:
        """`consumer:<name>` / `endpoint:<name>` -> until, for the silences still in force."""
        return {f"{t}:{n}": until for (t, n), until in self._silences.items() if until > ts}


__all__ = ["QUORUM", "SILENCE_PREFIX", "Suppressor", "silence_key"]
