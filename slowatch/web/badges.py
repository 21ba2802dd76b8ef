"""`/badges/{consumer}/{slo}.svg`: a small SVG badge with an SLO's budget left (or `?show=sli`).

Coloured by state: ok green, burning amber, exhausted red, collecting or no data grey. Access rules
are the consumer's (slowatch/web/auth.py); `?token=` lets an `<img>` carry a token. A badge is fetched
again and again (README renderers, image proxies such as GitHub's camo): it may be kept for 60 s
(`Cache-Control: max-age=60`) and carries a weak ETag of its content, so a revalidation whose
`If-None-Match` still matches is a bodiless `304`.
"""

from __future__ import annotations

import hashlib
from html import escape

from aiohttp import web
from aiohttp.helpers import ETAG_ANY

from slowatch.slo.display import percent, sli_percent, state_word
from slowatch.slo.snapshot import SloStatus
from slowatch.web.consumer_page import known_consumer
from slowatch.web.params import Query, bad_parameter
from slowatch.web.view import VIEW

COLORS = {"ok": "#1a7f37", "burning": "#9a6700", "exhausted": "#cf222e", "collecting": "#6e7781", "no data": "#57606a"}
"""White text on each reads at WCAG AA (4.5:1 and more; GitHub's lighter #2da44e, #bf8700, #8c959f did not)."""
SHOW = ("budget", "sli")
CACHE_CONTROL = "max-age=60"


def _width(text: str) -> int:
    return 10 + round(sum(6.0 if c not in "il.,:|!' " else 3.5 for c in text) + 0.5 * len(text))


def badge_value(status: SloStatus | None, show: str) -> tuple[str, str]:
    """(text, state word) for the badge's right half."""
    if status is None:
        return "no data", "no data"
    state = state_word(status.state.value, status.budget_remaining, status.burn(3600.0))
    if state in ("no data", "collecting"):
        return state, state
    if show == "sli":
        return sli_percent(status.sli), state
    if state == "exhausted":
        return "budget exhausted", state
    return f"{percent(status.budget_remaining)} budget left", state


def badge_svg(label: str, value: str, color: str) -> str:
    lw, vw = _width(label), _width(value)
    total = lw + vw
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{total}' height='20' role='img' "
        f"aria-label='{escape(label)}: {escape(value)}'><title>{escape(label)}: {escape(value)}</title>"
        f"<rect width='{lw}' height='20' rx='3' fill='#555'/><rect x='{lw}' width='{vw}' height='20' rx='3' "
        f"fill='{color}'/><rect x='{lw}' width='4' height='20' fill='{color}'/>"
        "<g fill='#fff' font-family='Verdana,DejaVu Sans,sans-serif' font-size='11' text-anchor='middle'>"
        f"<text x='{lw / 2:.1f}' y='14'>{escape(label)}</text><text x='{lw + vw / 2:.1f}' y='14'>{escape(value)}</text>"
        "</g></svg>"
    )


async def badge(request: web.Request) -> web.Response:
    q = Query(request, "show")
    view = request.app[VIEW]
    consumer = known_consumer(request)
    slo = request.match_info["slo"]
    if all(s.name != slo for s in consumer.slos):
        raise web.HTTPNotFound(text="no such SLO")
    show = q.get("show")
    show = "budget" if show is None else show
    if show not in SHOW:
        raise bad_parameter("show", f"must be one of {', '.join(SHOW)} (got {show[:40]!r})")
    value, state = badge_value(view.slo_snapshot().get(consumer.name, slo), show)
    svg = badge_svg(f"{consumer.name} {slo}", value, COLORS[state])
    tag = hashlib.sha256(svg.encode()).hexdigest()[:20]
    headers = {"Cache-Control": CACHE_CONTROL, "ETag": f'W/"{tag}"'}  # weak: the same badge gzipped or not
    if any(e.value in (tag, ETAG_ANY) for e in request.if_none_match or ()):
        return web.Response(status=304, headers=headers)
    return web.Response(text=svg, content_type="image/svg+xml", headers=headers)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/badges/{consumer}/{slo}.svg", badge)


__all__ = ["add_routes", "badge_svg", "badge_value"]
