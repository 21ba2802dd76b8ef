"""`/consumers/{consumer}`: one consumer's promise, for the people it is made to.

Each SLO with its figures, burn-down and daily history, the endpoints it depends on, incidents,
maintenance and firing alerts (as the consumer's own: no other consumer, nor its endpoints, named).
History is read on the store's reader thread; the page has no scripts and no external assets and
refreshes itself every 60 s.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from urllib.parse import quote

from aiohttp import web

from slowatch.alerting.health import root_cause_suffix
from slowatch.config.consumers import ConsumerConfig, resolve_endpoints
from slowatch.reports.html import report_html
from slowatch.reports.marks import concerning
from slowatch.slo.consumer_view import ConsumerFigures, consumer_figures
from slowatch.slo.windows import MONTH_RANGE, parse_month
from slowatch.store.annotations import Annotation
from slowatch.web.api import consumer_json
from slowatch.web.consumer_html import (
    ENDPOINT_BARS,
    PRINT_STYLE,
    STYLE,
    alerts_section,
    endpoints_section,
    incidents_section,
    maintenance_section,
    slo_card,
    when,
)
from slowatch.web.dependencies import GRAPH, TREE_STYLE, DependencyView
from slowatch.web.params import Query, bad_parameter, not_found
from slowatch.web.view import VIEW, DaemonView

REFRESH_SECONDS = 60
PAGE_MARKS = 1000
"""The most annotations one page marks on its burn-downs (the newest concerning the consumer)."""


def find_consumer(view: DaemonView, name: str) -> ConsumerConfig | None:
    return next((c for c in view.config.consumers if c.name == name), None)


def known_consumer(request: web.Request) -> ConsumerConfig:
    """The consumer named in the path; 404 when there is none (access is checked before, by auth: only
    an operator learns that a name is unknown), with the API's JSON body under /api/."""
    view, name = request.app[VIEW], request.match_info["consumer"]
    consumer = find_consumer(view, name)
    if consumer is None:
        if request.path.startswith("/api/"):
            raise not_found("consumer", name, (c.name for c in view.config.consumers))
        raise web.HTTPNotFound(text="no such consumer")
    return consumer


async def figures_for(view: DaemonView, consumer: ConsumerConfig, now: float | None = None) -> ConsumerFigures:
    config, snapshot = view.config, view.slo_snapshot()
    at = view.now() if now is None else now
    return await view.store.read(
        lambda db: consumer_figures(db.conn, config, consumer, snapshot, at, draw=ENDPOINT_BARS)
    )


def consumer_alerts(view: DaemonView, consumer: ConsumerConfig) -> list[dict[str, object]]:
    """The firing alerts concerning `consumer`, as its own: an alert shared with other consumers names only
    this one, and a root cause's summary and `dependents` only this consumer's endpoints."""
    endpoints = set(resolve_endpoints(consumer.endpoints, view.config.endpoints))
    out: list[dict[str, object]] = []
    for a in view.alerts_view():
        consumers = a.get("consumers")
        if not (isinstance(consumers, list) and consumer.name in consumers):
            continue
        raw = a.get("dependents")
        dependents = [str(d) for d in raw] if isinstance(raw, list) else []
        summary = str(a.get("summary", ""))
        if dependents:
            own = [d for d in dependents if d in endpoints]
            summary = summary.removesuffix(root_cause_suffix(dependents)) + (root_cause_suffix(own) if own else "")
            dependents = own
        out.append({**a, "consumers": [consumer.name], "summary": summary, "dependents": dependents})
    return out


def token_suffix(request: web.Request) -> str:
    """`?token=...` when the page was opened with one (so its links keep working), else ''."""
    token = request.query.get("token")
    return f"?token={quote(token, safe='')}" if token else ""


def render_page(
    f: ConsumerFigures, alerts: list[dict[str, object]], suffix: str = "", note: str = "", deps: str = "",
    marks: Sequence[Annotation] = (),
) -> str:  # fmt: skip
    """`note`: shown under the title (a consumer partial on this shard says so); `deps`: its dependency tree;
    `marks`: annotations shown on the burn-down charts."""
    c = f.consumer
    description = f"<p class='muted'>{escape(c.description)}</p>" if c.description else ""
    description += f"<p class='partial'><strong>{escape(note)}</strong></p>" if note else ""
    slos = "".join(slo_card(s, marks) for s in f.slos) or "<div class='card muted'>This consumer has no SLOs.</div>"
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'><link rel='icon' href='data:,'>"
        f"<meta http-equiv='refresh' content='{REFRESH_SECONDS}'>"
        f"<title>{escape(c.name)} · slowatch</title><style>{STYLE}{TREE_STYLE}{PRINT_STYLE}</style></head><body><main>"
        f"<h1>{escape(c.name)}</h1>{description}"
        f"<div class='small muted'>as of {when(f.now)} · refreshes every {REFRESH_SECONDS}s · "
        f"depends on {len(f.endpoints):,} endpoint{'s' if len(f.endpoints) != 1 else ''} · "
        f"<a href='/consumers/{quote(c.name)}/report{escape(suffix)}'>monthly report</a></div>"
        f"{alerts_section(alerts)}<h2>Service level objectives</h2>{slos}"
        f"{incidents_section(f)}{maintenance_section(f)}{deps}{endpoints_section(f)}"
        "</main></body></html>"
    )


async def page(request: web.Request) -> web.Response:
    Query(request)
    view = request.app[VIEW]
    consumer = known_consumer(request)
    figures = await figures_for(view, consumer)
    partial = view.cluster.partial.get(consumer.name)
    note = partial.text if partial is not None else ""
    endpoints = resolve_endpoints(consumer.endpoints, view.config.endpoints)
    tree = DependencyView(view, request.app[GRAPH]).tree_html(endpoints)
    since = min((s.burn.start for s in figures.slos), default=figures.now)
    marks = await view.store.read(
        lambda db: concerning(db.conn, consumer.name, figures.endpoints, since=since, limit=PAGE_MARKS)
    )
    html = render_page(figures, consumer_alerts(view, consumer), token_suffix(request), note, tree, marks)
    return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})


def report_month(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        return parse_month(text)
    except ValueError:
        raise bad_parameter("month", f"must be YYYY-MM, e.g. 2026-11, {MONTH_RANGE} (got {text[:20]!r})") from None


async def report(request: web.Request) -> web.Response:
    """The consumer's report as one self-contained HTML file: `?month=2026-11` (default: current periods)."""
    q = Query(request, "month")
    view = request.app[VIEW]
    consumer = known_consumer(request)
    month = report_month(q.get("month"))
    config, snapshot, now = view.config, view.slo_snapshot(), view.now()
    html = await view.store.read(lambda db: report_html(db.conn, config, [consumer], snapshot, now, month))
    return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})


async def api_consumer(request: web.Request) -> web.Response:
    """The consumer's subset of the API: its endpoints, SLOs (raw figures and state) and firing alerts."""
    Query(request)
    view = request.app[VIEW]
    consumer = known_consumer(request)
    doc = consumer_json(view.config, consumer, view.slo_view(), view.cluster.partial.get(consumer.name))
    doc["alerts"] = consumer_alerts(view, consumer)
    return web.json_response(doc)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/consumers/{consumer}", page)
    router.add_get("/consumers/{consumer}/report", report)
    router.add_get("/api/v1/consumers/{consumer}", api_consumer)


__all__ = ["add_routes", "consumer_alerts", "figures_for", "find_consumer", "known_consumer", "render_page"]
