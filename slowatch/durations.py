"""Durations as SREs write them: `500ms`, `15s`, `5m`, `1h`, `30d`, `1h30m`."""

from __future__ import annotations

import math
import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d|w)")  # ASCII: `\d` also takes other scripts' digits


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
        raise ValueError(f"not a duration: {text!r} ({_hint(s)})")
    if not math.isfinite(total):
        raise ValueError(f"not a finite duration: {text!r}")
    return total


_NEXT = {"d": "h", "h": "m", "m": "s"}
_ISO = re.compile(r"P(?:\d|T\d)[\dYMWDTHS.,]*", re.IGNORECASE)


def _hint(s: str) -> str:
    """What to write instead of `s`, for the near misses an SRE plausibly writes."""
    if s.startswith("-"):
        return "a duration cannot be negative"
    if _ISO.fullmatch(s):
        return "ISO 8601 durations are not read: write e.g. 90s, 5m, 1h30m"
    if re.fullmatch(r"[\d.]+e[+-]?\d+(?:ms|s|m|h|d|w)?", s, re.IGNORECASE):
        return "no exponents: write e.g. 1000s"
    joined = re.sub(r"(?<=[\d.])\s+(?=[a-z])|(?<=[a-z])\s+(?=\d)", "", s)
    last = _PART.findall(joined)
    if joined != s and "".join(n + u for n, u in last) == joined:
        return f"did you mean {joined!r}?"
    bare = re.fullmatch(r"((?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))*\d+(?:\.\d+)?(d|h|m))(\d+)", joined)
    if bare and bare.group(2) in _NEXT:
        return f"did you mean {joined + _NEXT[bare.group(2)]!r}?"
    return "use e.g. 500ms, 15s, 5m, 1h, 30d"


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
