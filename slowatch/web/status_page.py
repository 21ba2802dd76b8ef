"""A server-rendered status page at `/`: endpoints now, and each consumer's error budgets.

No JavaScript and no external assets (it works air-gapped); it refreshes itself every 15 s.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from aiohttp import web

from slowatch.cluster import RULES_POINTER
from slowatch.durations import format_duration
from slowatch.probes.registry import describe_target
from slowatch.slo.display import duration_words, objective_percent, row_budget_text, sli_percent
from slowatch.web.consumer_page import token_suffix
from slowatch.web.view import VIEW

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#1d232a;background:#f6f7f9;overflow-wrap:break-word}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px #0001}
th,td{text-align:left;padding:.45rem .7rem;border-bottom:1px solid #eceef1;vertical-align:top}
th{font-weight:600;color:#5b6470;font-size:12px;text-transform:uppercase}
.dot{display:inline-block;width:.7rem;height:.7rem;border-radius:50%;margin-right:.4rem}
.ok{background:#2da44e}.bad{background:#cf222e}.unknown{background:#8c959f}
.bar{height:.6rem;background:#eceef1;border-radius:.3rem;min-width:8rem}
.fill{height:100%;border-radius:.3rem}
.muted{color:#57606a}
.scroll{overflow-x:auto}td.name{overflow-wrap:anywhere;min-width:7rem}
@media (max-width:600px){body{margin:1rem .5rem}}
"""


def _objective(ratio: object) -> str:
    return objective_percent(ratio) if isinstance(ratio, float) else ""


def window_words(s: dict[str, object]) -> str:
    """An SLO's window, naming a calendar window's time zone as the consumer page does: 'month (Asia/Kathmandu)'."""
    window, zone = str(s.get("window", "")), s.get("time_zone")
    return f"{window} ({zone})" if zone else window


def _age(ts: float, now: float) -> str:
    sec = max(0, int(now - ts))
    return f"{sec}s ago" if sec < 120 else f"{duration_words(sec)} ago"  # 3h 20m ago, not 200m ago


def _took(seconds: float) -> str:
    """A probe's time: '50 ms'; a refused connection's 0.3 ms 'under 1 ms', not '0 ms'."""
    return "under 1 ms" if 0 <= seconds < 0.0005 else f"{seconds * 1000:,.0f} ms"


async def index(request: web.Request) -> web.Response:
    view = request.app[VIEW]
    token = escape(token_suffix(request))  # opened with ?token=: its links keep it (README), else ''
    now = view.now()  # the daemon's Clock (a stepped clock, a FakeClock in tests), as every other figure
    rows = []
    for ep in view.config.endpoints:
        r = view.latest.get(ep.name)
        if not ep.enabled:
            state, outcome, took, msg, when = "unknown", "disabled", "", "not probed (enabled: false)", ""
        elif r is None:  # first runs are spread over the interval (scheduler.phase_offset)
            due = f"first probe within {format_duration(ep.interval)}"
            state, outcome, took, msg, when = "unknown", "waiting", "", due, ""
        else:
            state = "ok" if r.ok else "bad"
            outcome, took = r.outcome.value, _took(r.duration)
            msg, when = r.message, _age(r.started_at, now)
        rows.append(
            f"<tr><td class='name'><span class='dot {state}'></span>{escape(ep.name)}</td><td>{escape(ep.kind)}</td>"
            f"<td class='muted name'>{escape(describe_target(ep))}</td><td>{escape(outcome)}</td><td>{took}</td>"
            f"<td class='name'>{escape(msg)}</td><td class='muted'>{when}</td></tr>"
        )
    slo_rows = []
    for s in view.slo_view():
        left, state = s.get("budget_remaining"), str(s.get("state", "no_data"))
        shown = escape(row_budget_text(s))
        bar = ""
        if isinstance(left, float) and state == "ok":
            pct = max(0.0, min(1.0, left))
            color = "#2da44e" if left > 0.5 else "#bf8700" if left > 0.1 else "#cf222e"
            bar = f"<div class='bar'><div class='fill' style='width:{pct:.0%};background:{color}'></div></div>"
        sli = s.get("sli")
        consumer = str(s.get("consumer"))
        journey = f"<div class='muted'>{escape(str(s['measures']))}</div>" if s.get("sli_kind") == "composite" else ""
        slo_rows.append(
            f"<tr><td class='name'><a href='/consumers/{quote(consumer)}{token}'>{escape(consumer)}</a></td>"
            f"<td class='name'>{escape(str(s.get('slo')))}{journey}</td>"
            f"<td>{_objective(s.get('objective'))}</td><td>{escape(window_words(s))}</td>"
            f"<td>{sli_percent(sli) if isinstance(sli, float) else 'no data'}</td><td>{shown}{bar}</td></tr>"
        )
    slo_table = (
        "<h2>Error budgets</h2><div class='scroll'><table>"
        "<tr><th>consumer</th><th>SLO</th><th>objective</th><th>window</th><th>SLI</th>"
        f"<th>budget left</th></tr>{''.join(slo_rows)}</table></div>"
        if slo_rows
        else ""
    )
    alert_rows = [
        f"<tr><td>{escape(str(a.get('severity', '')))}</td><td class='name'>{escape(str(a.get('title', '')))}"
        f"{' <span class=muted>(suppressed)</span>' if a.get('suppressed') else ''}</td>"
        f"<td class='name'>{escape(str(a.get('summary', '')))}</td>"
        f"<td class='muted'>{_age(since, now) if isinstance(since := a.get('since'), float) else ''}</td></tr>"
        for a in view.alerts_view()
    ]
    alert_table = (
        "<h2>Firing alerts</h2><div class='scroll'><table>"
        "<tr><th>severity</th><th>alert</th><th>summary</th><th>since</th></tr>"
        f"{''.join(alert_rows)}</table></div>"
        if alert_rows
        else ""
    )
    partial = view.cluster.partial
    consumers = " · ".join(
        f"<a href='/consumers/{quote(c.name)}{token}'>{escape(c.name)}</a>{' (partial)' if c.name in partial else ''}"
        for c in view.config.consumers
    )
    if partial:
        first = next(iter(partial.values()))
        consumers += (
            f"<br><span class='muted'>partial: this instance is shard {first.shard} of {first.shards} (0-based) and "
            f"probes only some of these consumers' endpoints; {escape(RULES_POINTER)}</span>"
        )
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><meta http-equiv='refresh' content='15'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'><link rel='icon' href='data:,'>"
        f"<title>slowatch status</title><style>{_STYLE}</style></head><body><h1>slowatch status</h1>"
        f"{f'<p class=consumers>Consumer pages: {consumers}</p>' if consumers else ''}"
        f"{alert_table}<h2>Endpoints</h2><div class='scroll'><table><tr><th>endpoint</th><th>kind</th><th>target</th>"
        "<th>last outcome</th><th>time</th>"
        f"<th>message</th><th>when</th></tr>{''.join(rows)}</table></div>{slo_table}"
        f"<p class='muted'>JSON: <a href='/api/v1/endpoints{token}'>/api/v1/endpoints</a> · "
        f"<a href='/api/v1/consumers{token}'>/api/v1/consumers</a> · <a href='/api/v1/alerts{token}'>/api/v1/alerts</a>"
        f" · <a href='/metrics{token}'>/metrics</a></p>"
        "</body></html>"
    )
    return web.Response(text=page, content_type="text/html")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/", index)


__all__ = ["add_routes"]
