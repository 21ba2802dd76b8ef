"""Annotations as input: the one validation for the API and `slowatch annotate`.

    slowatch annotate --url http://slowatch:9464 --kind deploy --text "checkout v142" --consumer checkout
    slowatch annotate --config slowatch.yaml --kind incident --text "card network outage" --at 2026-12-01T10:00Z

With `--url` the token comes from `--token` or `$SLOWATCH_TOKEN` (an operator or annotation token);
with `--config` the annotation is written to the database directly (WAL: safe while the daemon runs).
Exit status 0 stored, 2 an error (bad input, daemon unreachable or refusing the token, an answer
that is not the stored annotation; the HTTP exchange and its --timeout: slowatch/api_client.py);
with `--config`, 1 when the database cannot be written.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import math
import os
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator

from slowatch.api_client import DEFAULT_TIMEOUT, TIMEOUT_HELP, ApiError, base_url, call, positive_seconds, redact
from slowatch.clock import SystemClock
from slowatch.config.schema import Config
from slowatch.config.types import Model, Name
from slowatch.store.annotations import KINDS, Annotation, add_annotation
from slowatch.store.one_write import CLI_WAIT, LOCK_WAIT_HELP, write_once
from slowatch.untrusted import one_line

MAX_TEXT = 2000
LATEST = 253_402_300_799.0  # 9999-12-31T23:59:59Z


class AnnotationError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


class AnnotationIn(Model):
    kind: Literal["deploy", "incident", "note"]
    text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
    consumer: Name | None = None
    consumers: list[Name] = Field(default_factory=list, max_length=100)
    endpoint: Name | None = None
    endpoints: list[Name] = Field(default_factory=list, max_length=1000)
    time: float | str | None = None

    @field_validator("time")
    @classmethod
    def _time(cls, v: float | str | None) -> float | str | None:
        if isinstance(v, str):
            v = parse_time(v)
        if v is not None and (not math.isfinite(v) or not 0 <= v <= LATEST):
            raise ValueError("must be a Unix time from 0 to the end of year 9999")
        return v


def parse_time(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError("not a time: use Unix seconds or ISO 8601, e.g. 2026-12-01T10:00:00Z") from None
    if parsed.tzinfo is None:
        raise ValueError("give an offset, e.g. 2026-12-01T10:00:00Z")
    return parsed.timestamp()


def parse_annotation(config: Config, doc: Any, now: float, source: str) -> Annotation:
    """`doc` (a JSON object) as an Annotation; AnnotationError naming the field when anything is wrong."""
    try:
        data = AnnotationIn.model_validate(doc)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "body"
        raise AnnotationError(where, err["msg"].removeprefix("Value error, ")) from None
    consumers = tuple(dict.fromkeys([*([data.consumer] if data.consumer else []), *data.consumers]))
    endpoints = tuple(dict.fromkeys([*([data.endpoint] if data.endpoint else []), *data.endpoints]))
    known_c, known_e = {c.name for c in config.consumers}, {e.name for e in config.endpoints}
    for name in consumers:
        if name not in known_c:
            raise AnnotationError("consumers", f"unknown consumer {name!r}")
    for name in endpoints:
        if name not in known_e:
            raise AnnotationError("endpoints", f"unknown endpoint {name!r}")
    ts = float(data.time) if data.time is not None else now
    return Annotation(ts, data.kind, data.text, consumers, endpoints, source, now)


def add_annotate_arguments(parser: argparse.ArgumentParser) -> None:
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="a running daemon, e.g. http://slowatch:9464")
    target.add_argument("--config", "-c", help="the YAML config: write to the database directly")
    parser.add_argument("--database", "--db", help="SQLite file (default: server.database from the config)")
    parser.add_argument("--kind", choices=KINDS, required=True)
    parser.add_argument("--text", required=True)
    parser.add_argument("--consumer", action="append", default=[], help="repeatable; none: every consumer")
    parser.add_argument("--endpoint", action="append", default=[], help="repeatable")
    parser.add_argument("--at", help="when (Unix seconds or ISO 8601 with an offset; default now)")
    parser.add_argument("--token", help="bearer token for --url (default: $SLOWATCH_TOKEN)")
    parser.add_argument("--timeout", type=positive_seconds, default=DEFAULT_TIMEOUT, help=TIMEOUT_HELP)
    parser.add_argument("--lock-wait", type=float, default=CLI_WAIT, help=LOCK_WAIT_HELP + " (--config)")


def _doc(args: argparse.Namespace) -> dict[str, Any]:
    doc: dict[str, Any] = {"kind": args.kind, "text": args.text, "consumers": args.consumer, "endpoints": args.endpoint}
    if args.at is not None:
        doc["time"] = args.at
    return doc


async def _post(args: argparse.Namespace) -> tuple[list[str], int]:
    token = args.token or os.environ.get("SLOWATCH_TOKEN")
    try:
        base = base_url(args.url)
        doc = await call(
            base, "/api/v1/annotations", token=token, within=args.timeout, expect=201, json_body=_doc(args)
        )
        kind, ts, id_ = _stored(doc)
    except ApiError as e:
        return [redact(str(e), token)], 2
    return [redact(f"annotated {kind} at {_iso(ts)} (id {id_})", token)], 0


def _stored(doc: Any) -> tuple[str, float, int | str]:
    """(kind, time, id) from the daemon's 201 answer (web/annotations.py), or ApiError."""
    stored = doc.get("annotation") if isinstance(doc, dict) else None
    if isinstance(stored, dict):
        kind, ts, id_ = stored.get("kind"), stored.get("ts"), stored.get("id")
        when = ts if isinstance(ts, int | float) and not isinstance(ts, bool) and math.isfinite(ts) else -1.0
        if isinstance(kind, str) and 0 <= when <= LATEST and isinstance(id_, int | str) and not isinstance(id_, bool):
            return one_line(kind, 40), float(when), id_ if isinstance(id_, int) else one_line(id_, 80)
    raise ApiError("the daemon's 201 answer is not an annotation (kind, ts, id): is --url the daemon?")


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def run_annotate(args: argparse.Namespace, config: Config | None) -> tuple[list[str], int]:
    if args.url is not None:  # even "": an error line, not the --config path
        return asyncio.run(_post(args))
    assert config is not None
    now = SystemClock().time()
    try:
        annotation = parse_annotation(config, _doc(args), now, "cli")
    except AnnotationError as e:
        return [f"--{e.field.rstrip('s').replace('time', 'at')}: {e.message}"], 2

    path = args.database or config.server.database  # a daemon may be writing it (store/one_write.py)
    failed = asyncio.run(write_once(path, config.server.retention, add_annotation(annotation), wait=args.lock_wait))
    if failed:
        return [failed], 1
    return [f"annotated {annotation.kind} at {_iso(annotation.ts)} (id {annotation.id})"], 0


__all__ = ["AnnotationError", "AnnotationIn", "add_annotate_arguments", "parse_annotation", "run_annotate"]
