"""`Retry-After`: how long a receiver asked to be left alone, bounded, and who waits with the one that was told.

A failed attempt whose reply carried `Retry-After` (a 429, a 503, or any other reply retried: `Attempt.retry_after`)
is retried after what the receiver asked, bounded (`bounded`): never sooner than `retry_initial / 2` (the shortest
ordinary backoff: `Retry-After: 0` must not become a busy loop), never later than the sink's `retry_max` nor
MAX_RETRY_AFTER (1 h). A value past that bound, or one that cannot be read (then: ordinary backoff), is logged once
per sink and reason, with the value (one line, clipped: it is the receiver's text).

Meanwhile NOTHING is sent to that receiver (`Gates`), not only the notification that was refused: the rest of its
sink's queue waits behind it anyway, but so do the Alertmanager re-POST loop, a `test` send from the API, and other
sinks posting to the same place. What "the same place" is depends on the reply: a 429 limits the URL it answered,
for the credentials it was sent with (a Slack webhook: two sinks with the same webhook URL share its limit, two
webhooks of other workspaces do not; two webhook sinks posting to one URL with their own `Authorization` headers are
two tenants of a receiver that limits each apart); any other status (503: the service is down for maintenance)
closes the whole host (scheme, host and port), whoever asks.

Gates are times on the event loop's clock (the clock every wait of the dispatcher uses), held in memory only: after
a restart the first attempt asks again, and the receiver says again how long to wait.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging

from yarl import URL

from slowatch.alerting.sinks.base import MAX_RETRY_AFTER, Attempt, Sink

logger = logging.getLogger(__name__)


def bounded(asked: float, sink: Sink) -> tuple[float, str]:
    """(seconds to wait, why it is not what was asked: "" when it is) for `Retry-After: asked` on `sink`."""
    floor, cap = sink.config.retry_initial / 2, min(sink.config.retry_max, MAX_RETRY_AFTER)
    if asked > cap:
        return cap, f"longer than retry_max/{MAX_RETRY_AFTER:g}s: waiting {cap:g}s"
    if asked < floor:
        return floor, ""  # (0, or a date already past: a common, harmless answer; not worth a log line)
    return asked, ""


def keys(sink: Sink, attempt: Attempt) -> tuple[str, ...]:
    """The gates `attempt`'s reply closes for `sink`: its URL when rate limited (429), its host otherwise."""
    if attempt.rate_limited:
        return (rate_key(sink),)
    return (f"host {origin(sink.target())}",)


def rate_key(sink: Sink) -> str:
    """The gate a 429 to `sink` closes: a hash of its URL and of the headers it authenticates with (`Sink.credentials`),
    so sinks posting to one URL with other credentials are other gates. Hashed: the key holds no secret."""
    h = hashlib.sha256(sink.target().encode())
    for name, value in sorted((k.lower(), v) for k, v in sink.credentials().items()):
        h.update(b"\0" + name.encode() + b"\0" + value.encode())
    return f"url {h.hexdigest()}"


def origin(url: str) -> str:
    try:
        u = URL(url)
        return f"{u.scheme}://{u.raw_host}:{u.port}"
    except ValueError:  # (config validation makes this unreachable: see config/alerting.py `_usable`)
        return url


class Gates:
    """Loop times before which nothing is posted to a receiver, by URL and credentials (hashed) or host (`keys`):
    never logged, never shown."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        self._logged: set[tuple[str, str]] = set()  # (sink, reason) of a Retry-After not honoured as asked

    def left(self, sink: Sink) -> float:
        """Seconds until `sink` may post (0: now)."""
        if not self._until:
            return 0.0
        now = asyncio.get_running_loop().time()
        until = max(self._until.get(rate_key(sink), 0.0), self._until.get(f"host {origin(sink.target())}", 0.0))
        if until <= now:
            self._until = {k: t for k, t in self._until.items() if t > now}  # (few: only receivers that asked)
            return 0.0
        return until - now

    def wait_for(self, sink: Sink, attempt: Attempt) -> float | None:
        """The wait `attempt`'s `Retry-After` asks of `sink`, bounded, and its gates closed until then; None: it
        asked nothing readable (ordinary backoff). Logs once per sink and reason when the value is not honoured."""
        if attempt.retry_after is None:
            if attempt.retry_after_raw:
                self._once(sink, "unreadable", f"value={attempt.retry_after_raw!r}: ordinary backoff instead")
            return None
        delay, why = bounded(attempt.retry_after, sink)
        if why:
            self._once(sink, "clamped", f"asked={attempt.retry_after:g}s value={attempt.retry_after_raw!r}: {why}")
        until = asyncio.get_running_loop().time() + delay
        for key in keys(sink, attempt):
            self._until[key] = max(self._until.get(key, 0.0), until)
        return delay

    def _once(self, sink: Sink, reason: str, text: str) -> None:
        if (sink.name, reason) in self._logged:
            return
        self._logged.add((sink.name, reason))
        logger.warning("Retry-After not honoured as sent (logged once per sink) sink=%s reason=%s %s",
                       sink.name, reason, text)  # fmt: skip


__all__ = ["Gates", "bounded", "keys", "origin", "rate_key"]
