"""`slowatch alerts | test-sink | silence`: the alerting side of the command line.

These read or write the database directly (WAL mode: safe while the daemon runs; a write gives up
after 30 s of a lock held by another process, store/one_write.py; `alerts` never migrates it and refuses
a newer schema or one older than it reads, store/read_only.py). They return
lines to print and an exit code; slowatch/cli.py does the printing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3

from sqlite_utils import Database

from slowatch.alerting.events import test_event
from slowatch.alerting.outbox import list_outbox, load_firing
from slowatch.alerting.service import default_session
from slowatch.alerting.sinks import build_sinks
from slowatch.alerting.sinks.text import when
from slowatch.alerting.suppress import SILENCE_PREFIX, Suppressor, silence_key
from slowatch.clock import SystemClock
from slowatch.config.messages import did_you_mean
from slowatch.config.schema import Config
from slowatch.store.one_write import CLI_WAIT, write_once
from slowatch.store.queries import get_states
from slowatch.store.read_only import begin_read, missing
from slowatch.store.store import state_op
from slowatch.untrusted import one_line


def alerts_report(config: Config, *, limit: int = 50) -> tuple[list[str], int]:
    path = config.server.database
    if (absent := missing(path)) is not None:
        return [absent], 1
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        conn.execute("PRAGMA busy_timeout = 5000")
        refused = begin_read(conn, path, "alerts")  # a newer or too old schema (store/read_only.py)
        if refused is not None:
            return [refused], 2
        db = Database(conn)
        if "alert_outbox" not in db.table_names():
            return [f"{path}: no alerting tables yet (start the daemon once)"], 1
        firing = load_firing(db)
        outbox = list_outbox(db, limit)
        stored = get_states(db, SILENCE_PREFIX)
    finally:
        conn.close()
    now = dt.datetime.now(dt.UTC).timestamp()
    out = [f"FIRING ({len(firing)})"]
    for f in firing:
        state = "notified" if f.notified else "suppressed"
        title = one_line(f.event.title, 200)
        out.append(f"  {f.key:45} {f.event.severity:7} {state:10} since {when(f.event.since)}  {title}")
    suppressor = Suppressor(config)
    suppressor.load_stored(stored)
    silences = suppressor.active(now)
    out.append(f"SILENCES ({len(silences)})")
    out.extend(f"  {target:45} until {when(until)}" for target, until in sorted(silences.items()))
    pending = sum(1 for r in outbox if r.status == "pending")
    out.append(f"OUTBOX ({pending} pending, showing {len(outbox)})")
    for r in outbox:
        err = f"  last_error={one_line(r.last_error, 300)}" if r.last_error else ""
        out.append(f"  {r.sink:20} {r.status:9} attempts={r.attempts:<3} {when(r.created)}  {r.event_id}{err}")
    return out, 0


def silence(
    config: Config, target: str, name: str, until: dt.datetime, reason: str, *, wait: float = CLI_WAIT
) -> tuple[list[str], int]:
    if until.tzinfo is None:
        return ["--until needs an offset, e.g. 2026-12-01T10:00Z"], 2
    known = {c.name for c in config.consumers} if target == "consumer" else {ep.name for ep in config.endpoints}
    if name not in known:
        return [f"unknown {target} {name!r}" + did_you_mean(name, known)], 2

    put = state_op(silence_key(target, name), {"until": until.timestamp(), "reason": reason}, SystemClock().time())
    path = config.server.database  # a daemon may be writing it (store/one_write.py)
    failed = asyncio.run(write_once(path, config.server.retention, put, wait=wait))
    if failed:
        return [failed], 1
    if until.timestamp() <= SystemClock().time():  # how a silence is lifted early; or a wrong year
        past = f"{when(until.timestamp())} is in the past"
        return [f"{target} {name} is not silenced: {past} (any silence on it is lifted)"], 0
    return [f"{target} {name} silenced until {when(until.timestamp())} (the daemon picks it up within seconds)"], 0


def parse_until(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))


def test_sink(config: Config, name: str) -> tuple[list[str], int]:
    if name not in config.sinks:
        return [f"no sink named {name!r} (known: {', '.join(config.sinks) or 'none'})"], 2

    async def send() -> tuple[bool, str]:
        sink = build_sinks(config)[name]
        async with default_session() as session:
            attempt = await sink.send(session, [test_event(name, SystemClock().time())], test=True)
        return attempt.ok, attempt.error

    ok, error = asyncio.run(send())
    if ok:
        return [f"test message delivered to sink {name}"], 0
    return [f"test message to sink {name} failed: {error}"], 1


__all__ = ["alerts_report", "parse_until", "silence", "test_sink"]
