"""A human rendering of one ProbeResult, for `slowatch probe --config FILE NAME`."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from slowatch.models import ProbeResult

PHASE_ORDER = ("resolve", "connect", "tls", "processing", "transfer")


def _phase(name: str, value: float) -> str:
    return f"{name} {value:.0%}" if name.endswith("_ratio") else f"{name} {value * 1000:.1f} ms"


def describe(result: ProbeResult, now: float | None = None) -> str:
    """Several lines: outcome and duration, message, status, phases in ms, cert expiry, final URL.

    `now` (unix seconds) dates the certificate's days left; it defaults to the current time."""
    lines = [f"{result.endpoint} ({result.kind}): {result.outcome.value} in {result.duration * 1000:.1f} ms"]
    if result.message:
        lines.append(f"  message:     {result.message}")
    if result.status_code is not None:
        lines.append(f"  status:      {result.status_code}")
    if result.phases:
        names = [p for p in PHASE_ORDER if p in result.phases]
        names += sorted(p for p in result.phases if p not in PHASE_ORDER)
        lines.append("  phases:      " + ", ".join(_phase(p, result.phases[p]) for p in names))
    if result.cert_expiry is not None:
        left = result.cert_expiry - (time.time() if now is None else now)
        date = datetime.fromtimestamp(result.cert_expiry, UTC).strftime("%Y-%m-%d %H:%M UTC")
        days = int(abs(left) // 86400)
        count = f"{days} day{'' if days == 1 else 's'}"
        lines.append(f"  certificate: expires {date} ({f'{count} left' if left >= 0 else f'expired {count} ago'})")
    if result.final_url is not None:
        lines.append(f"  final URL:   {result.final_url}")
    if result.attempt > 1 or not result.final:
        lines.append(f"  attempt:     {result.attempt}{'' if result.final else ' (retried)'}")
    return "\n".join(lines)


__all__ = ["describe"]
