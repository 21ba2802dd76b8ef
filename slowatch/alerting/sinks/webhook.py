"""A generic JSON webhook. The body (version 1):

    {"version": 1, "source": "slowatch", "test": false, "grouped": false,
     "events": [{"id": "<event id>", "alert": "<alert key>", "kind": "burn_rate", "status": "firing",
                 "severity": "page", "consumers": ["checkout"], "slo": "availability", "endpoint": "",
                 "since": "2026-...Z", "at": "2026-...Z", "title": "...", "summary": "...",
                 "details": {...}, "url": "https://slowatch.example/"}]}

`Idempotency-Key` is the event id (for a grouped message: a hash of the sorted event ids), the same
on every retry and after a restart, so the receiver can drop repeats.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from slowatch.alerting.events import AlertEvent
from slowatch.alerting.sinks.base import Request, Sink
from slowatch.alerting.sinks.text import iso
from slowatch.config.alerting import WebhookSinkConfig


def event_doc(e: AlertEvent, url: str | None) -> dict[str, Any]:
    return {
        "id": e.event_id, "alert": e.alert_key, "kind": e.kind, "status": e.status, "severity": e.severity,
        "consumers": list(e.consumers), "slo": e.slo, "endpoint": e.endpoint, "since": iso(e.since),
        "at": iso(e.ts), "title": e.title, "summary": e.summary, "details": dict(e.details),
        "url": f"{url}/" if url else None,
    }  # fmt: skip


def idempotency_key(events: Sequence[AlertEvent]) -> str:
    if len(events) == 1:
        return events[0].event_id
    ids = "\n".join(sorted(e.event_id for e in events))
    return "group-" + hashlib.sha256(ids.encode()).hexdigest()[:32]


class WebhookSink(Sink):
    kind = "webhook"

    def __init__(self, name: str, config: WebhookSinkConfig, external_url: str | None) -> None:
        super().__init__(name, config, external_url)
        self._url = config.url
        self._headers = config.headers

    def request(self, events: Sequence[AlertEvent], *, test: bool = False) -> Request:
        body = {
            "version": 1, "source": "slowatch", "test": test, "grouped": len(events) > 1,
            "events": [event_doc(e, self.external_url) for e in events],
        }  # fmt: skip
        headers = {k: v.get_secret_value() for k, v in self._headers.items()}
        headers["Idempotency-Key"] = idempotency_key(events)
        return Request(self._url.get_secret_value(), body, headers)

    def target(self) -> str:
        return self._url.get_secret_value()

    def credentials(self) -> Mapping[str, str]:
        return {k: v.get_secret_value() for k, v in self._headers.items()}

    def secrets(self) -> list[str]:
        return [self._url.get_secret_value(), *(v.get_secret_value() for v in self._headers.values())]


__all__ = ["WebhookSink", "event_doc", "idempotency_key"]
