"""`slowatch gate`: may changes to what a consumer depends on ship now? For CI pipelines.

    slowatch gate --url http://slowatch:9464 --consumer checkout [--slo availability]   # asks the daemon
    slowatch gate --config slowatch.yaml --consumer checkout [--slo availability]       # reads the database

Exit status: 0 go, 1 hold, 2 an error (bad config, unknown consumer or SLO, daemon unreachable or
refusing the token). With `--url` the token comes from `--token` or, better (no secret in the
process list), the `SLOWATCH_TOKEN` environment variable. Without `--url` the database is opened
read-only (the daemon may be running; never migrated; a newer schema or one older than it reads is an
error, store/read_only.py), figures computed like `slowatch report`; its "last hour"
burn is the current clock hour (the stored cells are hourly), the daemon's a rolling hour.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sqlite3
from typing import Any
from urllib.parse import quote

import aiohttp

from slowatch.cluster import database_view, stored_shard
from slowatch.config.schema import Config
from slowatch.report import collect
from slowatch.slo.gate import SloGate, consumer_gate, decide
from slowatch.store.read_only import begin_read

GO, HOLD, ERROR = 0, 1, 2
Outcome = tuple[list[str], int]


def add_gate_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--url", help="a running daemon, e.g. http://slowatch:9464")
    source.add_argument("--config", "-c", help="the YAML config: read the database directly")
    parser.add_argument("--database", "--db", help="SQLite file (default: server.database from the config)")
    parser.add_argument("--consumer", required=True)
    parser.add_argument("--slo", help="only this SLO (default: the consumer's gate over all its SLOs)")
    parser.add_argument("--token", help="bearer token for --url (default: $SLOWATCH_TOKEN)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the daemon")
    parser.add_argument("--format", choices=["text", "json"], default="text")


def render(doc: dict[str, Any], fmt: str) -> Outcome:
    code = HOLD if doc.get("decision") == "hold" else GO
    if fmt == "json":
        return [json.dumps(doc, indent=2)], code
    slos = doc.get("slos", [doc])
    lines = [f"{str(doc.get('decision', '?')).upper()}: {doc.get('reason', '')}"]
    for s in slos:
        message = f" — {s['message']}" if s.get("message") else ""
        lines.append(f"  {s['slo']}: {s['decision']} (rule: {s['rule']}){message}")
    return lines, code


async def ask_daemon(args: argparse.Namespace) -> Outcome:
    base = args.url.rstrip("/")
    path = f"/api/v1/consumers/{quote(args.consumer, safe='')}"
    if args.slo:
        path += f"/slos/{quote(args.slo, safe='')}"
    token = args.token or os.environ.get("SLOWATCH_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as s, s.get(f"{base}{path}/gate", headers=headers) as r:
            text = await r.text()
            if r.status != 200:
                return [f"{base}{path}/gate answered {r.status}: {text.strip()[:300]}"], ERROR
            doc = json.loads(text)
    except (aiohttp.ClientError, TimeoutError, ValueError) as e:
        return [f"cannot ask {base}: {type(e).__name__}: {e}"], ERROR
    return render(doc if isinstance(doc, dict) else {}, args.format)


def from_database(config: Config, args: argparse.Namespace) -> Outcome:
    if not any(c.name == args.consumer for c in config.consumers):
        return [f"no consumer named {args.consumer!r}"], ERROR
    path = args.database or config.server.database
    now = dt.datetime.now(dt.UTC).timestamp()
    notes: list[str] = []
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            conn.execute("PRAGMA query_only = 1")
            refused = begin_read(conn, path, "gate")  # a newer or too old schema (store/read_only.py)
            if refused is not None:
                return [refused], ERROR
            # a sharded instance's database holds its own endpoints only (the shard it records, else the config's)
            view, mismatch = database_view(config, stored_shard(conn))
            local = view.local
            consumer = next((c for c in local.consumers if c.name == args.consumer), None)
            if consumer is None:
                where = f"shard {view.shard} of {view.shards}, which {path} holds"
                return [f"consumer {args.consumer!r} has no endpoint in {where}: ask another shard's instance"], ERROR
            slos = [s for s in consumer.slos if not args.slo or s.name == args.slo]
            if args.slo and not slos:
                return [f"consumer {consumer.name!r} has no SLO named {args.slo!r} here"], ERROR
            notes += [f"note: {path}: {mismatch}"] if mismatch else []
            if consumer.name in view.partial:
                notes.append(f"note: consumer {consumer.name}: {view.partial[consumer.name].text}")
            own = argparse.Namespace(consumer=consumer.name, slo=args.slo, objective=None, month=None, window=None)
            last_hour = argparse.Namespace(**{**vars(own), "window": 3600.0})
            figures = {f.slo: f for f in collect(local, conn, own, now)}
            burns = {f.slo: f.budget_used for f in collect(local, conn, last_hour, now)}
        finally:
            conn.close()
    except sqlite3.Error as e:
        return [f"cannot read SLO data from {path}: {e}"], ERROR
    answers: list[SloGate] = []
    for slo in slos:
        f = figures.get(slo.name)
        state, remaining = (f.state.value, f.budget_remaining) if f is not None else ("no_data", None)
        answers.append(decide(consumer.name, slo, state, remaining, burns.get(slo.name)))
    doc = answers[0].as_dict() if args.slo else consumer_gate(consumer.name, answers)
    lines, code = render({**doc, "notes": notes} if notes else doc, args.format)
    return (lines + notes if args.format == "text" else lines), code


def run(args: argparse.Namespace, config: Config | None) -> Outcome:
    if args.url:
        return asyncio.run(ask_daemon(args))
    assert config is not None
    return from_database(config, args)


__all__ = ["ERROR", "GO", "HOLD", "add_gate_arguments", "run"]
