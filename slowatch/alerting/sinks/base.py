"""What every sink shares: one HTTP POST per message, classified into ok / retry / permanent.

    2xx                    delivered
    429                    retry after `Retry-After` (seconds or an HTTP date), bounded (alerting/retry_gate.py)
    408, 5xx, network      retry with exponential backoff and jitter (the dispatcher's job), or after
                           `Retry-After` when the reply has one (a 503 in maintenance)
    timeout                retry (each attempt is bounded by the sink's `timeout`); the receiver may have
                           acted on it (`Attempt.maybe_received`), as on a connection cut after sending
    413                    too large: a grouped message is sent again in halves (the dispatcher), one alone fails
    3xx                    permanent: a redirect is never followed (it would carry the body and headers along)
    any other 4xx          permanent: not retried, counted, logged with the sink name

Error texts never contain the sink's URL or header values: they are built from the status, a
short prefix of the response body (one line: untrusted.one_line) and exception class names, then
scrubbed of every secret.
"""

from __future__ import annotations

import datetime
import email.utils
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import aiohttp
from multidict import CIMultiDictProxy

from slowatch.alerting.events import AlertEvent
from slowatch.config.alerting import SinkBase
from slowatch.untrusted import one_line

MAX_RETRY_AFTER = 3600.0
MAX_BODY = 2048  # bytes of a reply read at most (`Sink.read_body`)


@dataclass(frozen=True, slots=True)
class Attempt:
    ok: bool
    permanent: bool = False
    retry_after: float | None = None
    error: str = ""
    internal: bool = False  # the sink raised while sending (a bug here, not the receiver's answer)
    split: bool = False  # the receiver may have refused only some alerts of the request: send each alone (400)
    too_large: bool = False  # 413: a grouped message is sent again in halves (SinkWorker), one alone is failed
    maybe_received: bool = False
    """Failed after the request went out (a timeout, the connection cut while waiting for the answer): the
    receiver may have acted on it. Such errors' texts start with MAYBE_RECEIVED (`maybe_received`)."""
    status: int = 0  # the reply's HTTP status (0: no reply)
    retry_after_raw: str = ""  # the reply's `Retry-After`, as sent (one line, clipped: the receiver's text)
    rate_limited: bool = False  # a 429 (or a 2xx saying so): the URL is limited, not the host (retry_gate.py)

    @classmethod
    def retry(cls, status: int, headers: CIMultiDictProxy[str], error: str, *, rate_limited: bool = False) -> Attempt:
        """A transient failure: retried after the reply's `Retry-After` if it has a readable one (seconds from the
        reply's `Date`), else with ordinary backoff."""
        raw = headers.get("Retry-After")
        return cls(
            ok=False, retry_after=retry_after(raw, headers.get("Date")), error=error, status=status,
            retry_after_raw=one_line(raw, 40) if raw else "", rate_limited=rate_limited or status == 429,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Request:
    url: str
    body: Any
    headers: Mapping[str, str]


class Sink(ABC):
    """One configured sink. `always_batch`: every ready item goes in one request (Alertmanager).
    `latest_only`: the receiver keeps each alert's state, not a log of events (Alertmanager): each request
    carries every alert it names in its newest state (`SinkWorker.payload`)."""

    kind: ClassVar[str]
    always_batch: ClassVar[bool] = False
    latest_only: ClassVar[bool] = False

    def __init__(self, name: str, config: SinkBase, external_url: str | None) -> None:
        self.name = name
        self.config = config
        self.external_url = external_url.rstrip("/") if external_url else None
        self.size = 0  # bytes of the last request body (a 413's error says it)
        self.scope: Mapping[str, str] = {}
        """This instance's `shard` / `location` among several (`ClusterConfig.alert_labels`), set by
        `build_sinks`; never `replica`. The Alertmanager sink adds them to every alert's labels."""

    @abstractmethod
    def request(self, events: Sequence[AlertEvent], *, test: bool = False) -> Request: ...

    @abstractmethod
    def target(self) -> str:
        """The URL this sink posts to (a secret: for `Gates` keys in memory only, never shown)."""

    def credentials(self) -> Mapping[str, str]:
        """The headers this sink authenticates with (secrets: hashed into `Gates` keys, never shown). A receiver's
        rate limit (429) is per URL and credentials: one tenant's limit must not pause another's."""
        return {}

    @abstractmethod
    def secrets(self) -> list[str]:
        """Every secret value this sink holds (scrubbed from error texts)."""

    def classify(self, status: int, body: str, headers: CIMultiDictProxy[str]) -> Attempt:
        if 200 <= status < 300:
            return Attempt(ok=True, status=status)
        detail = f"HTTP {status}" + (f": {one_line(body, 120)}" if body.strip() else "")
        if status in (408, 429) or status >= 500:
            return Attempt.retry(status, headers, self.scrub(detail))
        if status == 413:
            detail = f"HTTP 413 (too large for the receiver at {self.size} bytes)" + detail.removeprefix("HTTP 413")
            return Attempt(ok=False, permanent=True, too_large=True, error=self.scrub(detail), status=status)
        if 300 <= status < 400:  # (never followed: it could carry the body and headers to another host)
            detail = f"HTTP {status} (a redirect, not followed: point the sink at its new URL)" + detail[8:]
        return Attempt(ok=False, permanent=True, error=self.scrub(detail), status=status)

    async def send(
        self, session: aiohttp.ClientSession, events: Sequence[AlertEvent], *, test: bool = False
    ) -> Attempt:
        req = self.request(events, test=test)
        timeout = aiohttp.ClientTimeout(total=self.config.timeout)
        data = json.dumps(req.body).encode()
        self.size = len(data)  # (said by a 413's error)
        headers = {"Content-Type": "application/json", **req.headers}
        try:
            async with session.post(req.url, data=data, headers=headers, timeout=timeout, allow_redirects=False) as r:
                return self.classify(r.status, await self.read_body(r), r.headers)
        except aiohttp.ConnectionTimeoutError:
            return Attempt(ok=False, error=f"connect timeout after {self.config.timeout:g}s")
        except TimeoutError:
            return Attempt(ok=False, error=f"timeout after {self.config.timeout:g}s", maybe_received=True)
        except aiohttp.ClientConnectorDNSError as e:  # (the host is part of the URL, a secret: not said)
            return Attempt(ok=False, error=f"cannot resolve the receiver's host: {e.os_error.strerror or 'DNS error'}")
        except aiohttp.ClientConnectorError as e:
            return Attempt(
                ok=False, error=self.scrub(f"cannot connect: {e.os_error.strerror or type(e.os_error).__name__}")
            )
        except (aiohttp.ClientError, OSError) as e:
            return Attempt(ok=False, error=f"network error: {type(e).__name__}", maybe_received=True)

    async def read_body(self, r: aiohttp.ClientResponse) -> str:
        """The reply's first MAX_BODY bytes, or fewer: what has arrived, unless `wants_more` says it is cut short.
        (`read(n)` returns what has arrived, not n bytes: a reply in several chunks was judged by its first one.)
        Never read to its end: an endless or trickling reply must not hold the worker past `timeout`."""
        data = await r.content.read(MAX_BODY)
        while data and len(data) < MAX_BODY and self.wants_more(r.status, data):
            more = await r.content.read(MAX_BODY - len(data))
            if not more:
                break
            data += more
        return data.decode("utf-8", errors="replace")

    def wants_more(self, status: int, head: bytes) -> bool:
        """`head`, the start of a reply with `status`, is cut short of what `classify` must see (Slack: an
        unfinished JSON object, or part of an error code). False: `classify` judges by what has arrived."""
        return False

    def scrub(self, text: str) -> str:
        for secret in sorted(self.secrets(), key=len, reverse=True):
            if secret:
                text = text.replace(secret, "<hidden>")
        return text


def html_page(status: int, body: str, headers: CIMultiDictProxy[str], receiver: str) -> Attempt | None:
    """A 2xx whose body is an HTML page, from a receiver that never answers one (Slack answers `ok`, Alertmanager
    nothing or JSON): a proxy, captive portal or sign-in page in the way took the request, not the receiver. Not a
    delivery: retried (fixing the way through rescues it), with its reason. (Not the Content-Type: Slack's `ok`
    comes as text/html.)"""
    if not 200 <= status < 300 or not body.lstrip()[:20].lower().startswith(("<!doctype html", "<html", "<head")):
        return None
    error = f"HTTP {status} with an HTML page, not {receiver}'s reply (a proxy or sign-in page in the way?)"
    return Attempt.retry(status, headers, error)


MAYBE_RECEIVED = ("timeout after ", "network error: ")
"""How the errors of attempts that may have reached the receiver (`Attempt.maybe_received`) start."""
REACHED_BEFORE = " (an earlier attempt may have reached the receiver)"
"""Appended to a later attempt's error when an earlier one may have reached the receiver (SinkWorker), so that the
outbox row says so across a restart."""


REPOSTED = "(another request carried it: the receiver may have it)"
"""Appended to an outbox row's last error when a request other than its own attempt carried its event (an
Alertmanager re-POST, or a POST of a batch in which it was the newest state of its alert: `SinkWorker.reached`).
Held in memory only, a kill -9 forgot it, and the RESOLVED folding the row after the restart was
`firing_undelivered` (fold.py)."""


IN_FLIGHT = "(an attempt going out: if this process stopped or crashed meanwhile, the receiver may have it)"
"""Written to an outbox row's last error before each attempt goes out (SinkWorker.going_out), replaced by its
outcome: a row left saying so was in flight at a stop or a kill -9, and its receiver may have it."""


def maybe_received(error: str) -> bool:
    """`error` (an outbox row's last error) says an attempt of it, or a re-POST, may have reached the receiver."""
    return error.startswith(MAYBE_RECEIVED) or error.endswith((REACHED_BEFORE, REPOSTED, IN_FLIGHT))


def retry_after(value: str | None, date: str | None = None) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP date; None when absent or invalid. Not bounded
    here (alerting/retry_gate.py `bounded` does, and logs what it clamps): a huge value may be `inf`.

    An HTTP date is read against the reply's own `Date` (its sender's clock, so a receiver whose clock is off
    from ours is still waited for as long as it meant), or against our wall clock when the reply has none."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # RFC 9110 delay-seconds; '²'.isdigit() too, but float() refuses it
        return float(value)
    when = http_date(value)
    if when is None:
        return None
    now = http_date(date) if date else None
    return max(0.0, when - (now if now is not None else time.time()))


def http_date(value: str) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if when.tzinfo is None:  # (RFC 850 / asctime forms carry no zone: HTTP dates are GMT)
        when = when.replace(tzinfo=datetime.UTC)
    return when.timestamp()


__all__ = [
    "IN_FLIGHT", "MAX_BODY", "MAX_RETRY_AFTER", "MAYBE_RECEIVED", "REACHED_BEFORE", "REPOSTED", "Attempt", "Request",
    "Sink", "html_page", "http_date", "maybe_received", "retry_after",
]  # fmt: skip
