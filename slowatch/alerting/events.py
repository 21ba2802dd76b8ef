"""`AlertEvent`: one notification-worthy decision (firing, reminder, resolved), as data.

Every event has a stable `event_id`, derived from what it is, never from when it was noticed:

    <alert key>@<since>/firing        the alert started firing at `since` (unix seconds)
    <alert key>@<since>/reminder/<n>  the n-th reminder of that firing
    <alert key>@<since>/resolved      its end

Alert keys: `endpoint:<name>`, `burn:<consumer>/<slo>:<severity>`, `exhausted:<consumer>/<slo>`,
`no_data:<consumer>/<slo>`. The id is what sinks deduplicate on (webhook `Idempotency-Key`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from slowatch.durations import format_duration
from slowatch.slo.display import budget_left_words

Status = Literal["firing", "reminder", "resolved"]
ENDED_WORDS = {"burn_rate": "{severity} burn-rate alert", "budget_exhausted": "budget-exhausted alert",
               "no_data": "no-data alert"}  # fmt: skip
"""An SLO alert, as the RESOLVED of one ended for a reason (not a recovery) names it."""


@dataclass(frozen=True, slots=True)
class AlertEvent:
    alert_key: str
    kind: str  # endpoint_down | burn_rate | budget_exhausted | no_data | test
    status: Status
    severity: str
    since: float  # when the alert started firing
    ts: float  # when this event was decided
    title: str
    summary: str
    consumers: tuple[str, ...] = ()
    slo: str = ""
    endpoint: str = ""
    seq: int = 0  # reminder number
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def event_id(self) -> str:
        base = f"{self.alert_key}@{self.since:.3f}/{self.status}"
        return f"{base}/{self.seq}" if self.status == "reminder" else base

    @property
    def firing(self) -> bool:
        return self.status != "resolved"

    def to_json(self) -> str:
        doc = asdict(self)
        doc["consumers"] = list(self.consumers)
        doc["details"] = dict(self.details)
        return json.dumps(doc, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> AlertEvent:
        doc = json.loads(text)
        doc["consumers"] = tuple(doc.get("consumers", ()))
        return cls(**doc)

    def as_resolved(self, ts: float, details: Mapping[str, Any] | None = None) -> AlertEvent:
        merged = {**self.details, **(details or {}), "fired_at": self.since, "duration": ts - self.since}
        return AlertEvent(
            self.alert_key, self.kind, "resolved", self.severity, self.since, ts,
            self.title, self._resolved_summary(ts, merged), self.consumers, self.slo, self.endpoint, 0, merged,
        )  # fmt: skip

    @property
    def recovered(self) -> bool:
        """A RESOLVED that means the condition cleared: not one that ended for a `reason` (its endpoint or SLO
        removed or disabled in the config, its alerting turned off, handed over to another shard), which says
        nothing about whether the outage goes on."""
        return self.status == "resolved" and not self.details.get("reason")

    def _resolved_summary(self, ts: float, details: Mapping[str, Any]) -> str:
        """What changed, in the words of on-call: not the firing summary again. An alert ended for a `reason`
        (not a recovery) says so, and never that the endpoint is up or the SLO fine again."""
        lasted = format_duration(max(0, round(ts - self.since)))
        subject = f"{self.consumers[0]}/{self.slo}" if self.consumers and self.slo else self.endpoint
        left = details.get("budget_remaining")
        budget = f"; {left_words(left)}" if isinstance(left, float) else ""
        reason = str(details.get("reason") or "")
        if self.kind == "endpoint_down":
            if details.get("handed_over") is True:  # (not known to be up: service.py `_forget_removed`)
                return f"{self.endpoint} no longer watched here after {lasted} down: handed over to another shard"
            if reason:
                return f"{self.endpoint} no longer alerted on after {lasted} down: {reason} (not known to be up)"
            return f"{self.endpoint} is up again after {lasted} down"
        if reason and self.kind in ENDED_WORDS:  # (the budget figure in `details` is the firing one's: stale)
            what = ENDED_WORDS[self.kind].format(severity=self.severity)
            if details.get("handed_over") is True:  # (its SLO left this shard: burn.py `SloAlerts._moved`)
                return (f"{subject} {what} no longer evaluated here after {lasted}: handed over to another shard "
                        "(resharding; not known to have cleared)")  # fmt: skip
            return f"{subject} {what} no longer evaluated after {lasted}: {reason} (not known to have cleared)"
        if self.kind == "burn_rate":
            return (
                f"{subject} burns its error budget below the {self.severity} thresholds again (fired {lasted}){budget}"
            )
        if self.kind == "budget_exhausted":
            return f"{subject} error budget is above its threshold again (after {lasted}){budget}"
        if self.kind == "no_data":
            return f"{subject} counts probes again after {lasted} without data"
        return f"Resolved: {self.summary}"

    def as_reminder(self, ts: float, n: int) -> AlertEvent:
        return AlertEvent(
            self.alert_key, self.kind, "reminder", self.severity, self.since, ts,
            self.title, self.summary, self.consumers, self.slo, self.endpoint, n, self.details,
        )  # fmt: skip


def left_words(remaining: float) -> str:
    """'62.3% of the error budget left', 'error budget exhausted (spent 400x its budget)' (display's rules)."""
    words = budget_left_words(remaining, "x")
    return f"error budget {words}" if remaining < 0 else f"{words} of the error budget left"


def test_event(sink: str, now: float) -> AlertEvent:
    """The clearly marked message `slowatch test-sink NAME` sends (kind `test`, severity `info`)."""
    return AlertEvent(
        alert_key=f"test:{sink}", kind="test", status="firing", severity="info", since=now, ts=now,
        title=f"slowatch test message for sink {sink}",
        summary=f"This is a test notification from slowatch to sink {sink!r}. No action is needed.",
    )  # fmt: skip


def endpoint_key(endpoint: str) -> str:
    return f"endpoint:{endpoint}"


def burn_key(consumer: str, slo: str, severity: str) -> str:
    return f"burn:{consumer}/{slo}:{severity}"


def exhausted_key(consumer: str, slo: str) -> str:
    return f"exhausted:{consumer}/{slo}"


def no_data_key(consumer: str, slo: str) -> str:
    return f"no_data:{consumer}/{slo}"


__all__ = [
    "AlertEvent", "Status", "burn_key", "endpoint_key", "exhausted_key", "left_words", "no_data_key", "test_event",
]  # fmt: skip
