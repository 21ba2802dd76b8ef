"""Durations as SREs write them: `500ms`, `15s`, `5m`, `1h`, `30d`, `1h30m`."""

from __future__ import annotations

import math
import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(text: str) -> float:
    """Return seconds. Raises ValueError with a message fit for a config error."""
    s = text.strip()
    if not s:
        raise ValueError("empty duration")
    pos = 0
    total = 0.0
    for match in _PART.finditer(s):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(s) or pos == 0:
        raise ValueError(f"not a duration: {text!r} (use e.g. 500ms, 15s, 5m, 1h, 30d)")
    if not math.isfinite(total):
        raise ValueError(f"not a finite duration: {text!r}")
    return total


def format_duration(seconds: float) -> str:
    """The shortest exact spelling, which parse_duration reads back: 90 -> '1m30s', 1.5 -> '1s500ms',
    0.0004 -> '0.4ms' (NaN -> 'nan'). Round a measured time first: it has no reason to show milliseconds."""
    if not math.isfinite(seconds):
        return str(seconds)
    if seconds < 0:
        return "-" + format_duration(-seconds)
    rest = math.floor(seconds)
    ms = round((seconds - rest) * 1000, 6)
    if ms >= 1000:
        rest, ms = rest + 1, 0.0
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            n, rest = divmod(rest, size)
            out.append(f"{n}{unit}")
    if ms:  # (`:g` keeps 6 significant digits: 999.9999 read '1000', 0.00001 '1e-05')
        out.append(f"{ms:.6f}".rstrip("0").rstrip(".") + "ms")
    return "".join(out) or "0s"


__all__ = ["format_duration", "parse_duration"]
