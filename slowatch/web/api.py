"""JSON API, `/api/v1/...`. Secrets never appear: targets are redacted, headers are not shown."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from slowatch.cluster import Partial
from slowatch.config.consumers import ConsumerConfig, resolve_endpoints
from slowatch.config.endpoints import Endpoint
from slowatch.config.schema import Config
from slowatch.models import ProbeResult
from slowatch.probes.registry import describe_target
from slowatch.redact import redact_written_url
from slowatch.store import queries
from slowatch.store.schema import LATENCY_BUCKETS
from slowatch.web.dependencies import GRAPH, DependencyView
from slowatch.web.params import Query, bad_parameter, not_found
from slowatch.web.view import VIEW

MAX_LIMIT = 10_000
"""The most rows one `results` or `incidents` answer holds (`limit`)."""


_NOWHERE: Mapping[str, str] = {}


def result_json(r: ProbeResult | None, where: Mapping[str, str] = _NOWHERE) -> dict[str, Any] | None:
    """One result; `where`: the instance's `shard`/`replica`/`location` when `server.cluster` sets them (a
    result is what this instance saw from where it runs)."""
    if r is None:
        return None
    return {
        **where,
        "outcome": r.outcome.value,
        "ok": r.ok,
        "started_at": r.started_at,
        "duration_seconds": round(r.duration, 6),
        "message": r.message,
        "status_code": r.status_code,
        "phases": dict(r.phases),
        "cert_expiry": r.cert_expiry,
        "final_url": redact_written_url(r.final_url) if r.final_url else None,  # recorded redacted; host as shown
        "attempt": r.attempt,
    }


def endpoint_json(ep: Endpoint, latest: ProbeResult | None, where: Mapping[str, str] = _NOWHERE) -> dict[str, Any]:
    return {
        "name": ep.name,
        "kind": ep.kind,
        "target": describe_target(ep),
        "interval_seconds": ep.interval,
        "timeout_seconds": ep.timeout,
        "labels": dict(ep.labels),
        "enabled": ep.enabled,
        "latest": result_json(latest, where),
    }


async def endpoints(request: web.Request) -> web.Response:
    Query(request)
    view = request.app[VIEW]
    where = dict(view.cluster.labels)
    return web.json_response(
        {"endpoints": [endpoint_json(ep, view.latest.get(ep.name), where) for ep in view.config.endpoints]}
    )


async def endpoint(request: web.Request) -> web.Response:
    view = request.app[VIEW]
    Query(request)
    name = _known(request, request.match_info["name"])
    ep = view.config.endpoint(name)
    doc = endpoint_json(ep, view.latest.get(name), dict(view.cluster.labels))
    doc["dependencies"] = DependencyView(view, request.app[GRAPH]).endpoint(name)
    return web.json_response(doc)


def consumer_json(
    config: Config, c: ConsumerConfig, slos: list[dict[str, object]], partial: Partial | None = None
) -> dict[str, Any]:
    """`endpoints`: the endpoint names the consumer depends on (selectors resolved); `endpoint_refs`: as
    configured (a name, or `{"labels": {...}}`); `partial` only on a shard that probes some of them."""
    doc: dict[str, Any] = {
        "name": c.name,
        "description": c.description,
        "endpoints": resolve_endpoints(c.endpoints, config.endpoints),
        "endpoint_refs": [ref if isinstance(ref, str) else ref.model_dump() for ref in c.endpoints],
        "slos": [s for s in slos if s.get("consumer") == c.name],
    }
    if partial is not None:
        doc["partial"] = partial.as_json()
    return doc


async def consumers(request: web.Request) -> web.Response:
    Query(request)
    view = request.app[VIEW]
    slos = view.slo_view()
    partial = view.cluster.partial
    docs = [consumer_json(view.config, c, slos, partial.get(c.name)) for c in view.config.consumers]
    return web.json_response({"consumers": docs})


async def alerts(request: web.Request) -> web.Response:
    Query(request)
    view = request.app[VIEW]
    return web.json_response({"alerts": view.alerts_view(), "sinks": view.sinks_view()})


def _known(request: web.Request, name: str) -> str:
    names = [ep.name for ep in request.app[VIEW].config.endpoints]
    if name not in names:
        raise not_found("endpoint", name, names)
    return name


async def results(request: web.Request) -> web.Response:
    """Raw history, newest first: `?since=UNIX&until=UNIX&limit=N&final_only=1`."""
    q = Query(request, "since", "until", "limit", "final_only")
    name = _known(request, request.match_info["name"])
    since, until = q.timestamp("since"), q.timestamp("until")
    if since is not None and until is not None and until < since:
        raise bad_parameter("until", f"must not be before since (got since={since:g}, until={until:g})")
    limit = q.integer("limit", default=100, low=1, high=MAX_LIMIT)
    final_only = q.flag("final_only")
    rows = await request.app[VIEW].store.read(
        lambda db: queries.history(db, name, since=since, until=until, limit=limit, final_only=final_only)
    )
    where = dict(request.app[VIEW].cluster.labels)
    return web.json_response({"endpoint": name, "results": [_stored_json(r, where) for r in rows]})


async def rollups(request: web.Request) -> web.Response:
    """Rollups, oldest first: `?since=UNIX` (default: the last 7 days). Hourly rows (`seconds` 3600); beyond
    `retention.hourly` one row per UTC day (`seconds` 86400, `hour` = the day's start)."""
    q = Query(request, "since")
    name = _known(request, request.match_info["name"])
    since = q.timestamp("since")
    if since is None:
        since = request.app[VIEW].now() - 7 * 86400  # the daemon's Clock, as every other figure
    rows = await request.app[VIEW].store.read(lambda db: queries.rollups(db, name, since=since))
    return web.json_response(
        {
            "endpoint": name,
            "latency_buckets": list(LATENCY_BUCKETS),
            "rollups": [
                {
                    "hour": r.hour,
                    "seconds": r.seconds,
                    "total": r.total,
                    "good": r.good,
                    "mean_latency_seconds": r.mean_latency,
                    "latency_buckets_cumulative": list(r.buckets),
                    "outcomes": dict(r.outcomes),
                }
                for r in rows
            ],
        }
    )


async def incidents(request: web.Request) -> web.Response:
    """Up/down state changes, newest first: `?endpoint=NAME&since=UNIX&limit=N`."""
    q = Query(request, "endpoint", "since", "limit")
    endpoint_name = q.get("endpoint")
    if endpoint_name is not None:
        _known(request, endpoint_name)
    since = q.timestamp("since")
    limit = q.integer("limit", default=100, low=1, high=MAX_LIMIT)
    rows = await request.app[VIEW].store.read(lambda db: queries.incidents(db, endpoint_name, since=since, limit=limit))
    where = dict(request.app[VIEW].cluster.labels)
    return web.json_response(
        {
            "incidents": [
                {
                    **where,
                    "endpoint": i.endpoint,
                    "ts": i.ts,
                    "from": i.from_state,
                    "to": i.to_state,
                    "outcome": i.outcome,
                    "message": i.message,
                }
                for i in rows
            ]
        }
    )


def _stored_json(r: queries.StoredResult, where: Mapping[str, str]) -> dict[str, Any]:
    doc = result_json(r.to_probe_result(), where)
    assert doc is not None
    doc["final"] = r.final
    return doc


async def config_status(request: web.Request) -> web.Response:
    """The running config's file and SHA-256, and the last reload: a rejected one lists its problems."""
    Query(request)
    return web.json_response(request.app[VIEW].config_status())


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/v1/endpoints", endpoints)
    router.add_get("/api/v1/endpoints/{name}", endpoint)
    router.add_get("/api/v1/endpoints/{name}/results", results)
    router.add_get("/api/v1/endpoints/{name}/rollups", rollups)
    router.add_get("/api/v1/incidents", incidents)
    router.add_get("/api/v1/consumers", consumers)
    router.add_get("/api/v1/alerts", alerts)
    router.add_get("/api/v1/config", config_status)


__all__ = ["add_routes", "consumer_json", "endpoint_json", "result_json"]
