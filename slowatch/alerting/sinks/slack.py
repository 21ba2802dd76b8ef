"""Slack incoming webhooks: Block Kit blocks plus a plain-text `text` fallback.

Slack answers 200 `ok`; 400 `invalid_payload`, 403 `action_prohibited`, 404 `no_service` /
`channel_not_found`, 410 `channel_is_archived` are permanent; 429 carries `Retry-After`; 5xx are
retried (base.Sink.classify). A 2xx whose whole body is one of Slack's error codes (`ERRORS`: what
legacy webhooks and some Slack-compatible receivers answer) was not posted: permanent, like the 4xx
carrying that code, never counted as delivered. So is a 2xx JSON object saying `"ok": false` (`not_ok`: Web API
style replies), retried instead when its `error` is transient (`TRANSIENT`: `ratelimited`, honouring
Retry-After). Names (consumers, SLOs, endpoints) are config `Name`s and safe as they are; anything taken
from a target (error messages, bodies, the outcome) is shown by `quoted`
(text.py): escaped, truncated and inside an inline code span, so no mention, link, formatting or
emoji it carries works. A grouped message (storm control) has one line per alert, in the latest
state the group holds for it. A notification that superseded others (alerting/fold.py) says how many
times the alert changed state meanwhile, and since when.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from multidict import CIMultiDictProxy

from slowatch.alerting.events import AlertEvent
from slowatch.alerting.sinks.base import Attempt, Request, Sink, html_page
from slowatch.alerting.sinks.text import burn, clip, duration, escape, folded, left, quoted, quoted_in, used, when
from slowatch.config.alerting import SlackSinkConfig
from slowatch.untrusted import one_line

ERRORS = frozenset({
    "invalid_payload", "no_text", "invalid_blocks", "invalid_blocks_format", "invalid_attachments",
    "missing_text_or_fallback_or_attachments", "too_many_attachments", "user_not_found", "channel_not_found",
    "channel_is_archived", "action_prohibited", "posting_to_general_channel_denied", "no_service",
    "no_service_id", "no_team", "team_disabled", "invalid_token",
})  # fmt: skip
"""Slack's incoming-webhook error codes that mean the message will never be posted (`rollup_error`,
its 500, is not here: retried)."""
TRANSIENT = frozenset({"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable",
                       "request_timeout", "rollup_error"})  # fmt: skip
"""Error codes of a JSON `"ok": false` reply (`not_ok`) that a later try may get past: retried. Any other is
permanent."""
ICON = {"firing": ":rotating_light:", "reminder": ":bell:", "resolved": ":white_check_mark:"}
NOT_RECOVERED = ":heavy_minus_sign:"
WORD = {"firing": "FIRING", "reminder": "STILL FIRING", "resolved": "RESOLVED"}
Block = dict[str, Any]


def not_ok(body: str) -> str | None:
    """The error code of a JSON object reply saying `"ok": false` (Web API style: workflow webhooks, proxies,
    Slack-compatible receivers; `"unknown"` without one), else None. Only the first 2 KiB are read (Sink.read_body):
    a longer JSON reply is not parsed, and counts as the 2xx it is."""
    text = body.strip()
    if not text.startswith("{"):
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    if not isinstance(doc, dict) or doc.get("ok") is not False:
        return None
    error = doc.get("error")
    return error if isinstance(error, str) and error else "unknown"


def mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": clip(text, 2900)}


def header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, 150), "emoji": True}}


def section(text: str) -> Block:
    return {"type": "section", "text": mrkdwn(text)}


def fields(pairs: Sequence[tuple[str, str]]) -> Block:
    return {"type": "section", "fields": [mrkdwn(f"*{k}*\n{v}") for k, v in pairs[:10]]}


def headline(e: AlertEvent) -> str:
    return f"[{WORD[e.status]}] {e.severity.upper()}: {e.title}"


def message(events: Sequence[AlertEvent], external_url: str | None, *, test: bool = False) -> dict[str, Any]:
    if test:
        return test_message(events[0])
    if len(events) == 1:
        return single(events[0], external_url)
    return grouped(events, external_url)


def single(e: AlertEvent, url: str | None) -> dict[str, Any]:
    blocks: list[Block] = [header(f"{WORD[e.status]} · {e.severity.upper()} · {e.title}")]
    d = e.details
    if e.status == "resolved":
        lasted = duration(float(d.get("duration", e.ts - e.since)))
        reason = f" {escape(str(d['reason']), 200)}." if d.get("reason") else ""
        ended = "Resolves" if e.recovered else "Ends, with no recovery seen,"  # (a reason: not known to be up)
        blocks.append(section(f"{icon(e)} {ended} `{e.alert_key}`, firing since {when(e.since)} "
                              f"(lasted {lasted}).{reason}"))  # fmt: skip
    else:
        blocks.append(section(f"{ICON[e.status]} {summary(e, 500)}"))
    if note := folded(d):
        blocks.append(section(f":twisted_rightwards_arrows: {note}"))
    if e.kind == "burn_rate":
        blocks.extend(burn_blocks(e, d))
    elif e.kind == "budget_exhausted":
        blocks.append(fields(slo_fields(e, d)))
        blocks.extend(failing_blocks(d))
    elif e.kind == "no_data":
        blocks.append(fields([*slo_fields(e, d)[:2], ("No data for", duration(d.get("no_data_for")))]))
    elif e.kind == "endpoint_down":
        blocks.append(fields(endpoint_fields(e, d)))
        if d.get("error") and e.status != "resolved":
            blocks.append(section(f"*Latest error*\n{quoted(str(d['error']))}"))
        blocks.extend(dependent_blocks(e, d))
    blocks.append(context(e, url))
    return {"text": clip(f"{headline(e)} — {summary(e, 300)}", 3000), "blocks": blocks}


def icon(e: AlertEvent) -> str:
    """The status's emoji; no green tick for a RESOLVED that ended for a reason, not a recovery (AlertEvent.recovered):
    its outage may go on."""
    return NOT_RECOVERED if e.status == "resolved" and not e.recovered else ICON[e.status]


def summary(e: AlertEvent, limit: int) -> str:
    """The summary, where the target's error it quotes (an endpoint's latest message) is `quoted`."""
    return quoted_in(e.summary, str(e.details.get("error") or ""), limit)


def slo_fields(e: AlertEvent, d: Mapping[str, Any]) -> list[tuple[str, str]]:
    objective = d.get("objective")
    zone = f" ({d['time_zone']})" if d.get("time_zone") else ""  # a calendar window's, as the status page says it
    target = f"{objective * 100:g}% over {d.get('slo_window', '?')}{zone}" if isinstance(objective, float) else "?"
    return [
        ("Consumer", ", ".join(e.consumers) or "-"),
        ("SLO", f"{e.slo} ({target})"),
        ("Budget left", left(d.get("budget_remaining"))),
        ("Time to exhaustion", exhaustion(d)),
    ]


def exhaustion(d: Mapping[str, Any]) -> str:
    remaining = d.get("budget_remaining")
    if isinstance(remaining, float) and remaining <= 0:
        return "already exhausted"
    basis = d.get("time_to_exhaustion_basis")  # while data covers part of the window: what the figure spends
    if isinstance(basis, str) and basis:
        return f"{duration(d.get('time_to_exhaustion'))} to spend {basis}"
    return f"{duration(d.get('time_to_exhaustion'))} at the current burn"


def burn_blocks(e: AlertEvent, d: Mapping[str, Any]) -> list[Block]:
    lines = []
    for w in d.get("windows", []):
        mark = ":fire:" if w.get("firing") else ":small_blue_diamond:"
        spent = used(w.get("consumed"))
        spent = f" — {spent}{' of the budget' if spent.endswith('%') else ''} spent in the last {w['long']}"
        lines.append(f"{mark} {w['long']} *{burn(w.get('long_burn'))}* and {w['short']} *{burn(w.get('short_burn'))}* "
                     f"vs threshold {burn(w.get('factor'))}{spent}")  # fmt: skip
    budget_fields = slo_fields(e, d)
    budget_fields.insert(3, ("Budget consumed", used(d.get("budget_consumed"))))
    out = [
        fields(budget_fields),
        section("*Burn rates* (long and short window vs tier threshold)\n" + "\n".join(lines)),
    ]
    return out + failing_blocks(d)


def failing_blocks(d: Mapping[str, Any]) -> list[Block]:
    failing = d.get("failing") or []
    if not failing:
        return []
    total = d.get("failing_total", len(failing))  # (events queued before session 9 listed them all)
    lines = [f"• `{f['endpoint']}` — {quoted(f.get('error') or 'failing', 200)}" for f in failing[:10]]
    if total > 10:
        lines.append(f"… and {total - 10} more")
    return [section("*Failing endpoints*\n" + "\n".join(lines))]


def endpoint_fields(e: AlertEvent, d: Mapping[str, Any]) -> list[tuple[str, str]]:
    out = [("Endpoint", f"`{e.endpoint}`"), ("Target", escape(str(d.get("target", "")), 200) or "-")]
    if e.status == "resolved":
        out.append(("Down for" if e.recovered else "Down when last alerted on", duration(d.get("duration"))))
    else:
        out.append(("Failures", f"{d.get('failures', '?')} in a row (threshold {d.get('threshold', '?')})"))
        out.append(("Outcome", quoted(str(d.get("outcome", "")), 60)))
    out.append(("Consumers", ", ".join(e.consumers) or "-"))
    return out


def dependent_blocks(e: AlertEvent, d: Mapping[str, Any]) -> list[Block]:
    """A root cause's dependents: all of them when it fires, the ones that failed when it resolves."""
    resolved = e.status == "resolved"
    names = list(d.get("dependents_affected", []) if resolved else d.get("dependents", []))
    if not names:
        return []
    failing = set(d.get("dependents_failing", []))
    lines = [f"• `{n}`" + (" — failing" if n in failing and not resolved else "") for n in names[:20]]
    if len(names) > 20:
        lines.append(f"… and {len(names) - 20} more")
    title = "Dependents that failed meanwhile" if resolved else f"Root cause for {len(names)} dependent endpoint(s)"
    return [section(f"*{title}* (their own alerts are not paged separately)\n" + "\n".join(lines))]


def context(e: AlertEvent, url: str | None) -> Block:
    parts = []
    if url:
        link = f"{url}/api/v1/endpoints/{e.endpoint}" if e.endpoint else f"{url}/"
        parts.append(f"<{link}|Open in slowatch>")
    parts.append(f"alert `{e.alert_key}`")
    parts.append(f"since {when(e.since)}")
    return {"type": "context", "elements": [mrkdwn(" · ".join(parts))]}


def grouped(events: Sequence[AlertEvent], url: str | None) -> dict[str, Any]:
    """One line per alert, in its latest state: after an outage a flapping endpoint's 120 queued
    FIRING/RESOLVED events read as the one alert, not as "60 firing" when it is up again."""
    latest: dict[str, AlertEvent] = {}
    seen: Counter[str] = Counter()
    for e in events:  # (a dict keeps each alert where it first appeared)
        latest[e.alert_key] = e
        seen[e.alert_key] += 1 + int(e.details.get("folded", 0))  # (notifications it superseded: fold.py)
    firing = sum(1 for e in latest.values() if e.firing)
    resolved = len(latest) - firing
    title = f"{len(events)} alerts at once: {firing} firing, {resolved} resolved"
    if len(latest) < (total := sum(seen.values())):
        counts = f"{firing} firing, {resolved} resolved"
        title = f"{plural(len(latest), 'alert')} at once ({total} notifications): {counts}"
    lines = [f"{icon(e)} *{WORD[e.status]}* {e.severity} — {escape(e.title, 120)}"
             + (f": {quoted(str(e.details['error']), 100)}" if e.firing and e.details.get("error") else "")
             + ("" if e.firing or e.recovered else f" _(not recovered: {escape(str(e.details['reason']), 120)})_")
             + (f" _(latest of {seen[e.alert_key]})_" if seen[e.alert_key] > 1 else "")
             for e in latest.values()]  # fmt: skip
    blocks: list[Block] = [header(f":rotating_light: {title}"), section("Grouped by storm control (one message).")]
    chunk: list[str] = []
    for line in lines:
        if sum(len(x) + 1 for x in chunk) + len(line) > 2800 or len(chunk) >= 40:
            blocks.append(section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
        if len(blocks) >= 47:
            break
    if chunk and len(blocks) < 48:
        blocks.append(section("\n".join(chunk)))
    if url:
        blocks.append({"type": "context", "elements": [mrkdwn(f"<{url}/|Open in slowatch>")]})
    return {"text": title, "blocks": blocks}


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def test_message(e: AlertEvent) -> dict[str, Any]:
    text = f":test_tube: *TEST* — {escape(e.summary)}"
    return {"text": f"[TEST] {e.title}", "blocks": [header(f"TEST · {e.title}"), section(text)]}


class SlackSink(Sink):
    kind = "slack"

    def __init__(self, name: str, config: SlackSinkConfig, external_url: str | None) -> None:
        super().__init__(name, config, external_url)
        self._url = config.webhook_url

    def request(self, events: Sequence[AlertEvent], *, test: bool = False) -> Request:
        return Request(self._url.get_secret_value(), message(events, self.external_url, test=test), {})

    def classify(self, status: int, body: str, headers: CIMultiDictProxy[str]) -> Attempt:
        if (page := html_page(status, body, headers, "Slack")) is not None:
            return page
        if 200 <= status < 300 and body.strip() in ERRORS:
            error = f"HTTP {status} with Slack's error: {body.strip()}"
            return Attempt(ok=False, permanent=True, error=error, status=status)
        if 200 <= status < 300 and (code := not_ok(body)) is not None:
            error = self.scrub(f"HTTP {status} with ok: false: {one_line(code, 80)}")
            if code in TRANSIENT:
                return Attempt.retry(status, headers, error, rate_limited=code.startswith("rate"))
            return Attempt(ok=False, permanent=True, error=error, status=status)
        return super().classify(status, body, headers)

    def wants_more(self, status: int, head: bytes) -> bool:
        """A 2xx reply whose start is an unfinished JSON object (`not_ok` must see it whole) or a proper prefix of
        one of Slack's error codes (a chunk may end in the middle of one): read on, up to 2 KiB or its end."""
        if not 200 <= status < 300:
            return False
        text = head.decode("utf-8", errors="ignore").strip()
        if text.startswith("{"):
            try:
                json.loads(text)
            except ValueError:
                return True
            return False
        return bool(text) and any(code.startswith(text) and code != text for code in ERRORS)

    def target(self) -> str:
        return self._url.get_secret_value()

    def secrets(self) -> list[str]:
        return [self._url.get_secret_value()]


__all__ = ["ERRORS", "TRANSIENT", "SlackSink", "message", "not_ok"]
