"""The deploy gate over HTTP, for CI pipelines (`slowatch gate --url ...` or curl):

    GET /api/v1/consumers/{consumer}/gate             hold when any of its SLOs holds
    GET /api/v1/consumers/{consumer}/slos/{slo}/gate  one SLO

Both answer 200 with `{"decision": "go" | "hold", "reason": ..., ...}`: the rule that decided, the
budget left and the last hour's burn (slowatch/slo/gate.py). The consumer's access tokens may read
them, like the rest of its API subset (slowatch/web/auth.py).
"""

from __future__ import annotations

from aiohttp import web

from slowatch.slo.gate import consumer_gate, slo_gate
from slowatch.web.consumer_page import known_consumer
from slowatch.web.params import Query, not_found
from slowatch.web.view import VIEW


async def gate(request: web.Request) -> web.Response:
    Query(request)
    consumer = known_consumer(request)
    snapshot = request.app[VIEW].slo_snapshot()
    answers = [slo_gate(consumer, slo, snapshot) for slo in consumer.slos]
    return web.json_response(consumer_gate(consumer.name, answers))


async def slo_gate_route(request: web.Request) -> web.Response:
    Query(request)
    consumer = known_consumer(request)
    name = request.match_info["slo"]
    slo = next((s for s in consumer.slos if s.name == name), None)
    if slo is None:
        raise not_found("slo", name, [s.name for s in consumer.slos])
    answer = slo_gate(consumer, slo, request.app[VIEW].slo_snapshot())
    return web.json_response(answer.as_dict())


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/v1/consumers/{consumer}/gate", gate)
    router.add_get("/api/v1/consumers/{consumer}/slos/{slo}/gate", slo_gate_route)


__all__ = ["add_routes"]
