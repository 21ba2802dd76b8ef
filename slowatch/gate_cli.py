"""`slowatch gate`: may changes to what a consumer depends on ship now? For CI pipelines.

    slowatch gate --url http://slowatch:9464 --consumer checkout [--slo availability]   # asks the daemon
    slowatch gate --config slowatch.yaml --consumer checkout [--slo availability]       # reads the database

Exit status: 0 go, 1 hold, 2 an error (bad config, unknown consumer or SLO, daemon unreachable or
refusing the token, an answer that is not a gate answer: never read as go). The HTTP exchange, its
--timeout and its limits: slowatch/api_client.py. With `--url` the token comes from `--token` or,
better (no secret in the process list), the `SLOWATCH_TOKEN` environment variable. Without `--url`
the database is opened read-only (the daemon may be running; never migrated; a newer schema or one
older than it reads is an error, store/read_only.py), figures computed like `slowatch report`; its
"last hour" burn is the current clock hour (the stored cells are hourly), the daemon's a rolling hour.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sqlite3
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from slowatch.api_client import DEFAULT_TIMEOUT, TIMEOUT_HELP, ApiError, base_url, call, positive_seconds, redact
from slowatch.cli_flags import db_argument
from slowatch.untrusted import one_line

if TYPE_CHECKING:  # the database side is imported by from_database: `slowatch --help` needs none of it
    from slowatch.config.schema import Config
    from slowatch.slo.gate import SloGate

GO, HOLD, ERROR = 0, 1, 2
Outcome = tuple[list[str], int]


def add_gate_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--url", help="a running daemon, e.g. http://slowatch:9464")
    source.add_argument("--config", "-c", help="the YAML config: read the database directly")
    parser.add_argument(
        "--database", "--db", type=db_argument, help="SQLite file (default: server.database from the config)"
    )
    parser.add_argument("--consumer", required=True)
    parser.add_argument("--slo", help="only this SLO (default: the consumer's gate over all its SLOs)")
    parser.add_argument("--token", help="bearer token for --url (default: $SLOWATCH_TOKEN)")
    parser.add_argument("--timeout", type=positive_seconds, default=DEFAULT_TIMEOUT, help=TIMEOUT_HELP)
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
    token = args.token or os.environ.get("SLOWATCH_TOKEN")
    path = f"/api/v1/consumers/{quote(args.consumer, safe='')}"
    if args.slo:
        path += f"/slos/{quote(args.slo, safe='')}"
    try:
        base = base_url(args.url)
        doc = await call(base, f"{path}/gate", token=token, within=args.timeout, expect=200)
        answer = gate_answer(doc, one_slo=bool(args.slo))
    except ApiError as e:
        return [redact(str(e), token)], ERROR
    lines, code = render(answer, args.format)
    return [redact(line, token) for line in lines], code


def gate_answer(doc: Any, *, one_slo: bool) -> dict[str, Any]:
    """The daemon's answer (slowatch/web/gate.py) if it is one this command understands, else ApiError:
    anything else must never read as "go" to a CI pipeline."""

    def decision_of(d: Any, where: str) -> dict[str, Any]:
        if not isinstance(d, dict) or d.get("decision") not in ("go", "hold"):
            raise ApiError(f"the daemon's answer is not a gate answer: {where} has no decision go or hold")
        for key in ("reason", *(("slo", "rule") if where != "the answer" or one_slo else ())):
            if not isinstance(d.get(key), str):
                raise ApiError(f"the daemon's answer is not a gate answer: {where} has no {key}")
        return {k: one_line(v, 4000) if isinstance(v, str) else v for k, v in d.items()}

    answer = decision_of(doc, "the answer")
    if one_slo:  # (render() reads `slos` whenever there is one)
        if "slos" in answer:
            raise ApiError("the daemon's answer is not a gate answer: one SLO's answer lists SLOs")
        return answer
    slos = answer.get("slos")
    if not isinstance(slos, list):
        raise ApiError("the daemon's answer is not a gate answer: it lists no SLOs")
    answer["slos"] = [decision_of(s, f"SLO #{i + 1}") for i, s in enumerate(slos)]
    if (answer["decision"] == "hold") != any(s["decision"] == "hold" for s in answer["slos"]):
        raise ApiError(f"the daemon's answer is not a gate answer: {answer['decision']} disagrees with its SLOs")
    return answer


def from_database(config: Config, args: argparse.Namespace) -> Outcome:
    from slowatch.cluster import database_view, stored_shard
    from slowatch.config.messages import did_you_mean
    from slowatch.report import collect
    from slowatch.slo.gate import consumer_gate, decide
    from slowatch.store.read_only import begin_read, missing

    consumer_names = [c.name for c in config.consumers]
    if args.consumer not in consumer_names:
        return [f"no consumer named {args.consumer!r}" + did_you_mean(args.consumer, consumer_names)], ERROR
    path = args.database or config.server.database
    if (absent := missing(path)) is not None:
        return [absent], ERROR
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
    if args.url is not None:  # even "": an error line, not the --config path
        return asyncio.run(ask_daemon(args))
    assert config is not None
    return from_database(config, args)


__all__ = ["ERROR", "GO", "HOLD", "add_gate_arguments", "run"]
