"""Formatting shared by the sinks: Slack mrkdwn escaping, truncation, numbers people can read.

Slack parses `<...>` (links, `<!channel>`, `<@U123>`) and `*bold*`, `_italic_`, `~strike~`,
`:emoji:` in mrkdwn, and offers no escape but `&amp; &lt; &gt;`. So text a target wrote (an error
message, an answer) goes out through `quoted`: one line, cut, `&<>` escaped and inside an inline code
span (its backticks turned into U+02CB), where Slack applies no formatting: `*RESOLVED*` stays literal.

Budget figures follow slowatch.slo.display's rules (no "-39900.0%", no "1000000.0x"), with an ASCII 'x'.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from slowatch.durations import format_duration
from slowatch.slo.display import budget_left_words, budget_used_words, duration_words, times


def escape(text: str, limit: int = 300) -> str:
    """Text from targets (error messages, bodies) made inert for Slack mrkdwn, and truncated.

    Truncation happens before escaping so an entity like `&amp;` is never cut in half.
    """
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def quoted(text: str, limit: int = 300) -> str:
    """Text from a target as an inline code span: no mention, link, formatting or emoji in it works."""
    text = escape(text, limit).replace("`", "\u02cb")
    return f"`{text}`" if text else ""


def quoted_in(text: str, quote: str, limit: int = 300) -> str:
    """`text` (ours, with names from the config) escaped, where its first `quote` (from a target) is
    `quoted`: a summary such as `pay failed 3 times in a row: <the error>`."""
    before, found, after = text.partition(quote) if quote else (text, "", "")
    if not found:
        return escape(text, limit)
    head = escape(before, limit) + (" " if before[-1:].isspace() else "")
    tail = escape(after, limit)
    return head + quoted(quote, max(20, limit - len(head) - len(tail))) + (" " if after[:1].isspace() else "") + tail


def clip(text: str, limit: int) -> str:
    """Fit Block Kit's field limits (e.g. 150 for a header, 3000 for a section)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def left(ratio: float | None) -> str:
    """Budget left: '62.3%', 'exhausted (spent 400x its budget)'."""
    return budget_left_words(ratio, "x")


def used(ratio: float | None) -> str:
    """Budget spent: '62.3%', '400x the budget', '> 1,000x the budget'."""
    return budget_used_words(ratio, "x")


def burn(rate: float | None) -> str:
    """A burn rate: '2.5x', '400x', '> 1,000x'."""
    return times(rate, "x")


def duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds:  # None or NaN
        return "n/a"
    if seconds == float("inf"):
        return "never at this rate"
    if seconds > 1000 * 86400:  # display.duration_words' bound
        return "> 1,000d"
    if seconds >= 86400:  # as the consumer page says it: "8d 10h", "12.5d"
        return duration_words(seconds)
    return format_duration(max(0.0, round(seconds / 60) * 60) if seconds >= 600 else max(0.0, round(seconds)))


def folded(details: Mapping[str, Any]) -> str:
    """What a notification that superseded others stands for (alerting/fold.py), or ''."""
    n, since = details.get("folded"), details.get("folded_since")
    if not isinstance(n, int) or n <= 0 or not isinstance(since, (int, float)):
        return ""
    times = "once" if n == 1 else f"{n} times"
    return f"Changed state {times} since {when(since)} before this sink could be told; this is the latest state."


def when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


__all__ = ["burn", "clip", "duration", "escape", "folded", "iso", "left", "quoted", "quoted_in", "used", "when"]
