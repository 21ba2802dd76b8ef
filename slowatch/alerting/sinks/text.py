"""Formatting shared by the sinks: Slack mrkdwn escaping, truncation, numbers people can read."""

from __future__ import annotations

import datetime as dt

from slowatch.durations import format_duration


def escape(text: str, limit: int = 300) -> str:
    """Text from targets (error messages, bodies) made inert for Slack mrkdwn, and truncated.

    Truncation happens before escaping so an entity like `&amp;` is never cut in half.
    """
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """Fit Block Kit's field limits (e.g. 150 for a header, 3000 for a section)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def pct(ratio: float | None, digits: int = 1) -> str:
    return "n/a" if ratio is None else f"{ratio * 100:.{digits}f}%"


def burn(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.1f}x"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds == float("inf"):
        return "never at this rate"
    if seconds >= 86400:
        return f"{seconds / 86400:.1f}d"
    return format_duration(max(0.0, round(seconds / 60) * 60) if seconds >= 600 else max(0.0, round(seconds)))


def when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


__all__ = ["burn", "clip", "duration", "escape", "iso", "pct", "when"]
