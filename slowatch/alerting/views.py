"""The alerting state as JSON-ready views, for the API and the status pages (no I/O, nothing changed).

    firing_view   firing alerts, oldest first, each with why it was sent to no sink (if it was not)
    sinks_view    each sink's delivery state: counts since start, what waits, the last error and failure

They read what `AlertService` holds (service.py): its book, endpoint health, suppressor and dispatcher.
"""

from __future__ import annotations

from collections.abc import Callable

from slowatch.alerting.book import AlertBook
from slowatch.alerting.dispatcher import Dispatcher
from slowatch.alerting.events import AlertEvent
from slowatch.alerting.health import EndpointHealth
from slowatch.alerting.held import REASONS
from slowatch.alerting.suppress import Suppressor


def firing_view(book: AlertBook, health: EndpointHealth, suppressor: Suppressor, now: float) -> list[dict[str, object]]:
    """Firing alerts, oldest first, JSON-ready (for the API and the status page)."""
    out: list[dict[str, object]] = []
    for f in sorted(book.firing.values(), key=lambda f: f.event.since):
        e = f.event
        out.append(
            {
                "alert": e.alert_key,
                "kind": e.kind,
                "severity": e.severity,
                "since": e.since,
                "title": e.title,
                "summary": e.summary,
                "consumers": list(e.consumers),
                "slo": e.slo,
                "endpoint": e.endpoint,
                "suppressed": not f.notified,
                "suppressed_reason": None if f.notified else unsent_because(e, health, suppressor, now),
                "root_cause": health.deps.covered_by.get(e.endpoint) if e.endpoint else None,
                "dependents": list(e.details.get("dependents", ())),
            }
        )
    return out


def unsent_because(e: AlertEvent, health: EndpointHealth, suppressor: Suppressor, now: float) -> str | None:
    """Why an alert was sent to no sink, in `slowatch_endpoint_suppressed`'s words (`silence`, `maintenance`,
    `dependency`), or `location quorum`: its page is the Prometheus rules' (a local blip looks so here)."""
    if e.kind == "endpoint_down":
        deps = health.deps
        if e.endpoint in deps.covered_by or e.endpoint in deps.held:
            return "dependency"
        why = suppressor.endpoint_suppressed(e.endpoint, health.consumers_of(e.endpoint), now)
    elif e.consumers:
        why = suppressor.slo_suppressed(e.consumers[0], now, e.slo)
    else:
        return None
    return REASONS.get(why, why) if why is not None else None


def sinks_view(d: Dispatcher, now: Callable[[], float]) -> list[dict[str, object]]:
    """Each sink's delivery state, JSON-ready (for the API): counts since start, what waits, the error
    the head of its queue last got (retrying) and the last notification given up on (failed, expired).
    Errors are the sinks' scrubbed texts: never a URL or header value."""
    out: list[dict[str, object]] = []
    for name, worker in sorted(d.workers.items()):
        held, head = d.waiting(worker)
        retrying = failure = None
        if head is not None and head.attempts:
            retrying = {"event": head.event.event_id, "attempts": head.attempts, "error": head.last_error}
        if (last := d.last_failure.get(name)) is not None:
            item, status, at = last
            failure = {"event": item.event.event_id, "status": status, "at": at, "error": item.last_error}
        out.append(
            {
                "sink": name,
                "kind": worker.sink.kind,
                "delivered": d.counters[(name, "delivered")],
                "withheld": d.counters[(name, "withheld")],
                "failed": d.counters[(name, "failed")],
                "expired": d.counters[(name, "expired")],
                "superseded": d.counters[(name, "superseded")],
                "overflow": d.counters[(name, "overflow")],
                "pending": len(worker.queue) - held,
                "held": held,
                "oldest_pending_age_seconds": max(0.0, now() - head.created) if head else 0.0,
                "retrying": retrying,
                "last_failure": failure,
            }
        )
    return out


__all__ = ["firing_view", "sinks_view", "unsent_because"]
