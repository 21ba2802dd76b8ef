"""`slowatch annotate`: record a deploy, incident or note through a running daemon or in the database.

    slowatch annotate --url http://slowatch:9464 --kind deploy --text "checkout v142" --consumer checkout
    slowatch annotate --config slowatch.yaml --kind incident --text "card network outage" --at 2026-12-01T10:00Z

With `--url` the token comes from `--token` or `$SLOWATCH_TOKEN` (an operator or annotation token);
with `--config` the annotation is written to the database directly (WAL: safe while the daemon runs),
validated as the API validates it (annotate.py). Exit status 0 stored, 2 an error (bad input, daemon
unreachable or refusing the token, an answer that is not the stored annotation; the HTTP exchange and its
--timeout: slowatch/api_client.py); with `--config`, 1 when the database cannot be written.

The validation (pydantic), the store and aiohttp are imported by the command that runs, not by the parser:
`slowatch --help` builds this one too.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import math
import os
from typing import TYPE_CHECKING, Any

from slowatch.api_client import DEFAULT_TIMEOUT, TIMEOUT_HELP, ApiError, base_url, call, positive_seconds, redact
from slowatch.cli_flags import db_argument
from slowatch.clock import SystemClock
from slowatch.lock_wait import CLI_WAIT, LOCK_WAIT_HELP, lock_wait
from slowatch.untrusted import one_line

if TYPE_CHECKING:
    from slowatch.config.schema import Config

KINDS = ("deploy", "incident", "note")
"""store.annotations.KINDS, without the store (tests/test_cli_imports.py keeps them equal)."""


def add_annotate_arguments(parser: argparse.ArgumentParser) -> None:
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="a running daemon, e.g. http://slowatch:9464")
    target.add_argument("--config", "-c", help="the YAML config: write to the database directly")
    parser.add_argument(
        "--database", "--db", type=db_argument, help="SQLite file (default: server.database from the config)"
    )
    parser.add_argument("--kind", choices=KINDS, required=True)
    parser.add_argument("--text", required=True)
    parser.add_argument("--consumer", action="append", default=[], help="repeatable; none: every consumer")
    parser.add_argument("--endpoint", action="append", default=[], help="repeatable")
    parser.add_argument("--at", help="when (Unix seconds or ISO 8601 with an offset; default now)")
    parser.add_argument("--token", help="bearer token for --url (default: $SLOWATCH_TOKEN)")
    parser.add_argument("--timeout", type=positive_seconds, default=DEFAULT_TIMEOUT, help=TIMEOUT_HELP)
    parser.add_argument("--lock-wait", type=lock_wait, default=CLI_WAIT, help=LOCK_WAIT_HELP + " (--config)")


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
    from slowatch.annotate import LATEST

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
    from slowatch.annotate import AnnotationError, parse_annotation
    from slowatch.store.annotations import add_annotation
    from slowatch.store.one_write import write_once

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


__all__ = ["KINDS", "add_annotate_arguments", "run_annotate"]
