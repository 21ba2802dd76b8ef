"""`/api/v1/corrections`: budget corrections (operator token; who = the token's name).

    GET  /api/v1/corrections                   the append-only log, each correction with `revoked_by`
    POST /api/v1/corrections                   {"consumer", "slo"?, "endpoint"?, "from", "to", "reason"} -> 201
    POST /api/v1/corrections/{id}/revoke       {"reason"} -> 201 (the revocation row)

Times are ISO 8601 with an offset or unix seconds. Bad input is a 400 naming what is wrong; nothing
is recorded then. The daemon applies a recorded correction before answering (`applied`).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from slowatch.config.messages import loop_did_you_mean
from slowatch.slo.corrections import reason_problems, revoke_problems, validate
from slowatch.store.correction_tables import all_corrections, applied, insert_correction
from slowatch.web.auth import access, presented_token
from slowatch.web.params import Query, json_error
from slowatch.web.view import VIEW

SYNC: web.AppKey[Callable[[], Awaitable[int]]] = web.AppKey("corrections_sync", Callable[[], Awaitable[int]])  # type: ignore[arg-type]


def parse_time(value: object, name: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value) if isinstance(value, float) or abs(value) < 10**300 else math.inf  # 1e400: no float
        if not math.isfinite(seconds):
            raise ValueError(f"{name}: not a time: {str(value)[:40]} (ISO 8601 with an offset, or unix seconds)")
        return seconds
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{name}: not a time: {value!r} (ISO 8601 with an offset, or unix seconds)") from None
        if parsed.tzinfo is None:
            raise ValueError(f"{name}: give an offset, e.g. 2026-12-01T10:00:00Z")
        return parsed.timestamp()
    raise ValueError(f"{name}: required (ISO 8601 with an offset, or unix seconds)")


def _bad(message: str) -> web.HTTPError:
    return json_error(web.HTTPBadRequest, message)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.text() or "{}")
    except (ValueError, LookupError, RecursionError):  # nested 100,000 deep; LookupError: `charset=no-such`
        raise _bad("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise _bad("the body must be a JSON object")
    return body


def _opt(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise _bad(f"{key}: must be a string")
    return value


async def _record(request: web.Request, row: dict[str, Any]) -> web.Response:
    view = request.app[VIEW]
    ids: list[int] = []
    view.store.submit(lambda db: ids.append(insert_correction(db.conn, row)))
    await view.store.flush()
    sync = request.app.get(SYNC)
    if sync is not None:
        await sync()
        await view.store.flush()  # the sync's `correction_applied` row is written by the store's writer
    row = {"id": ids[-1], **row}
    state = await view.store.read(lambda db: applied(db.conn))
    row["applied"] = state.get(row["id"] if row["action"] == "correct" else row["revokes"])
    return web.json_response(row, status=201)


async def create(request: web.Request) -> web.Response:
    Query(request)
    view = request.app[VIEW]
    body = await _body(request)
    unknown = sorted(set(body) - {"consumer", "slo", "endpoint", "from", "to", "reason"})
    if unknown:
        raise _bad(f"unknown field(s): {', '.join(unknown)} (allowed: consumer, slo, endpoint, from, to, reason)")
    try:
        start, end = parse_time(body.get("from"), "from"), parse_time(body.get("to"), "to")
    except ValueError as e:
        raise _bad(str(e)) from None
    consumer, reason = _opt(body, "consumer") or "", _opt(body, "reason") or ""
    slo, endpoint = _opt(body, "slo"), _opt(body, "endpoint")
    errors = validate(view.config, consumer, slo, endpoint, start, end, reason, view.now(), loop_did_you_mean)
    if errors:
        raise _bad("; ".join(errors))
    author = access(request).operator_name(presented_token(request)) or "operator"
    row = {"created_at": view.now(), "author": author, "action": "correct", "consumer": consumer, "slo": slo,
           "endpoint": endpoint, "start": start, "end": end, "reason": reason, "revokes": None}  # fmt: skip
    return await _record(request, row)


async def revoke(request: web.Request) -> web.Response:
    Query(request)
    view = request.app[VIEW]
    raw = request.match_info["id"]
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):  # (`int` also reads Arabic-Indic digits, `0_1`, `+1`)
        raise _bad("id: must be a correction's number")
    target = int(raw)
    reason = _opt(await _body(request), "reason") or ""
    if problems := reason_problems(reason):
        raise _bad(problems[0])
    rows = await view.store.read(lambda db: all_corrections(db.conn))
    found = next((r for r in rows if r["id"] == target and r["action"] == "correct"), None)
    if found is None:
        raise json_error(web.HTTPNotFound, f"no correction #{target}")
    if found["revoked_by"] is not None:
        raise _bad(f"correction #{target} is already revoked (by #{found['revoked_by']})")
    if problems := revoke_problems(view.config, found, view.now()):
        raise _bad(problems[0])
    author = access(request).operator_name(presented_token(request)) or "operator"
    keep = {k: found[k] for k in ("consumer", "slo", "endpoint", "start", "end")}
    row = {"created_at": view.now(), "author": author, "action": "revoke", **keep, "reason": reason, "revokes": target}
    return await _record(request, row)


async def listing(request: web.Request) -> web.Response:
    Query(request)

    def read(db: Any) -> tuple[list[dict[str, Any]], dict[int, bool]]:
        conn: sqlite3.Connection = db.conn
        return all_corrections(conn), applied(conn)

    rows, state = await request.app[VIEW].store.read(read)
    for r in rows:
        r["applied"] = state.get(r["id"]) if r["action"] == "correct" else None
    return web.json_response({"corrections": rows})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/v1/corrections", listing)
    router.add_post("/api/v1/corrections", create)
    router.add_post("/api/v1/corrections/{id}/revoke", revoke)


__all__ = ["SYNC", "add_routes", "parse_time"]
