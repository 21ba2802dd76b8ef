"""HTTP(S) probe."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import aiohttp

from slowatch.config.endpoints import HttpEndpoint
from slowatch.models import Outcome, ProbeResult

if TYPE_CHECKING:
    from slowatch.probes import ProbeContext


async def probe(endpoint: HttpEndpoint, ctx: ProbeContext) -> ProbeResult:
    started = ctx.clock.time()
    t0 = ctx.clock.monotonic()
    status: int | None = None
    headers = {k: v.get_secret_value() for k, v in endpoint.headers.items()}
    try:
        async with ctx.session.request(
            endpoint.method,
            endpoint.url,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=endpoint.timeout),
            allow_redirects=False,
        ) as resp:
            status = resp.status
            await resp.content.read(1 << 20)
        if status in endpoint.expect.status:
            outcome, message = Outcome.SUCCESS, ""
        else:
            expected = ", ".join(str(s) for s in endpoint.expect.status)
            outcome, message = Outcome.HTTP_STATUS, f"expected status {expected}, got {status}"
    except TimeoutError:
        outcome, message = Outcome.TIMEOUT, f"no answer within {endpoint.timeout:g}s"
    except aiohttp.ClientConnectorError as exc:
        refused = isinstance(exc.os_error, ConnectionRefusedError)
        outcome = Outcome.CONNECTION_REFUSED if refused else Outcome.ERROR
        message = str(exc)[:300]
    except (aiohttp.ClientError, asyncio.IncompleteReadError, OSError) as exc:
        outcome, message = Outcome.ERROR, f"{type(exc).__name__}: {exc}"[:300]
    return ProbeResult(
        endpoint=endpoint.name,
        kind="http",
        outcome=outcome,
        started_at=started,
        duration=ctx.clock.monotonic() - t0,
        message=message,
        status_code=status,
    )
