"""Probes: `async def probe(endpoint, ctx) -> ProbeResult`. Failures are values, never exceptions.

Adding a kind: see `probes/registry.py` (its config model, its module with `probe` and `KIND`, one line).
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Callable
from dataclasses import replace

import aiohttp

from slowatch.config.concealed import concealed_of
from slowatch.config.endpoints import Endpoint
from slowatch.models import Outcome, ProbeResult
from slowatch.probes import http
from slowatch.probes.context import ProbeContext
from slowatch.probes.kind import ProbeFn
from slowatch.probes.registry import KINDS
from slowatch.probes.tracing import ProbeConnector
from slowatch.redact import conceal_result
from slowatch.untrusted import MESSAGE_LIMIT, one_line

logger = logging.getLogger(__name__)


def make_session(limit: int = 100) -> aiohttp.ClientSession:
    """The one ClientSession the daemon probes with: a fresh connection per probe, like an uptime
    check should (keep-alive would hide connect and TLS failures), no cookies carried between probes,
    and the tracing HTTP probes use to time phases and read the peer certificate."""
    connector = ProbeConnector(limit=limit, force_close=True, ttl_dns_cache=10)
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=True,
        headers={"User-Agent": "slowatch"},
        request_class=http.ProbeRequest,  # a reply before the request: classified the same on every loop
    )


async def probe_once(endpoint: Endpoint, ctx: ProbeContext) -> ProbeResult:
    """One attempt, with a safety net: a probe that overruns its timeout by a margin or raises a bug
    still yields a result, so one broken target or probe can never stall or crash the scheduler.

    Values the config interpolated into the endpoint are replaced by their `${NAME}` in the result
    (redact.conceal_result), and the message, which quotes what the target sent, is made one valid
    line of at most 1,000 characters (untrusted.one_line), here, where every result is made (in the
    daemon or a prober worker)."""
    result = await _attempt(endpoint, ctx)
    if not (result.message.isprintable() and len(result.message) <= MESSAGE_LIMIT):
        result = replace(result, message=one_line(result.message))
    concealed = concealed_of(endpoint)
    return result if concealed is None else conceal_result(result, concealed)


async def _attempt(endpoint: Endpoint, ctx: ProbeContext) -> ProbeResult:
    fn = KINDS[endpoint.kind].probe
    started = ctx.clock.time()
    t0 = ctx.clock.monotonic()
    try:
        async with asyncio.timeout(endpoint.timeout + 1.0):  # unlike wait_for, no extra task per probe
            return await fn(endpoint, ctx)
    except TimeoutError:
        outcome, message = Outcome.TIMEOUT, f"no answer within {endpoint.timeout:g}s"
    except Exception as exc:  # a bug in a probe: record it, log it, keep going
        concealed = concealed_of(endpoint)
        if concealed is None:
            logger.exception("probe raised endpoint=%s kind=%s", endpoint.name, endpoint.kind)
        else:  # the traceback may quote the URL or host: conceal it like the result
            trace = concealed.scrub("".join(traceback.format_exception(exc))).rstrip()
            logger.error("probe raised endpoint=%s kind=%s\n%s", endpoint.name, endpoint.kind, trace)
        outcome, message = Outcome.ERROR, f"{type(exc).__name__}: {exc}"[:300]
    return ProbeResult(
        endpoint=endpoint.name,
        kind=endpoint.kind,
        outcome=outcome,
        started_at=started,
        duration=ctx.clock.monotonic() - t0,
        message=message,
    )


def stalled(endpoint: Endpoint, result: ProbeResult) -> bool:
    """A timeout that fired far later than any timer of the probe was set for (its timeout, the safety
    net one second after it): the process was stopped (SIGSTOP, a paused VM) or its event loop blocked,
    so the attempt says nothing about the target."""
    return result.outcome is Outcome.TIMEOUT and result.duration > endpoint.timeout + 1.0 + max(1.0, endpoint.timeout)


async def run_probe(
    endpoint: Endpoint, ctx: ProbeContext, on_result: Callable[[ProbeResult], None], revision: int = 0
) -> ProbeResult:
    """Probe with `endpoint.retries` retries; every attempt goes to `on_result`, only the last is final, each
    stamped with the definition's `revision` (`ProbeResult.revision`). An attempt cut short by a stalled
    process (`stalled`) is not reported: it is made again, once."""
    attempts = endpoint.retries + 1
    for attempt in range(1, attempts + 1):
        result = await probe_once(endpoint, ctx)
        if stalled(endpoint, result):
            logger.info("probe attempt discarded, the process was stalled: endpoint=%s timeout=%gs took=%.1fs; "
                        "probing again", endpoint.name, endpoint.timeout, result.duration)  # fmt: skip
            result = await probe_once(endpoint, ctx)
        last = result.ok or attempt == attempts
        if attempt != 1 or not last or revision:  # defaults attempt=1, final=True, revision=0: no copy for most
            result = replace(result, attempt=attempt, final=last, revision=revision)
        on_result(result)
        if last:
            return result
        await asyncio.sleep(endpoint.retry_delay)
    raise AssertionError("unreachable")


__all__ = ["ProbeContext", "ProbeFn", "make_session", "probe_once", "run_probe", "stalled"]
