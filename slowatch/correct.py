"""`slowatch correct`: record, revoke or list budget corrections in the database.

    slowatch correct --config FILE --consumer X [--slo Y | --endpoint Z] --from T --to T --reason "..."
    slowatch correct --config FILE --revoke ID --reason "..."
    slowatch correct --config FILE --list

Writes the append-only `corrections` table (author `cli:<user>`); a running daemon applies it within
10 s (it polls), a stopped one at its next start. The API route does the same with an operator token.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import sqlite3
import sys

from slowatch.cli_flags import db_argument
from slowatch.errors import StoreError
from slowatch.lock_wait import CLI_WAIT, LOCK_WAIT_HELP, lock_wait
from slowatch.untrusted import one_line


def add_correct_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", required=True)
    parser.add_argument("--db", "--database", type=db_argument, help="SQLite database path (default: server.database)")
    parser.add_argument("--consumer")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--slo", help="only this SLO (and SLOs that differ from it only by objective or window)")
    which.add_argument("--endpoint", help="only this endpoint's results")
    parser.add_argument("--from", dest="start", help="start, ISO 8601 with an offset (e.g. 2026-12-01T10:00Z)")
    parser.add_argument("--to", dest="end", help="end (exclusive), in the past")
    parser.add_argument("--reason", default="")
    parser.add_argument("--revoke", type=int, metavar="ID", help="take back correction ID (recorded too)")
    parser.add_argument("--list", action="store_true", help="print every correction and revocation")
    parser.add_argument("--lock-wait", type=lock_wait, default=CLI_WAIT, help=LOCK_WAIT_HELP)


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_correct(args: argparse.Namespace) -> int:
    from sqlite_utils import Database  # (here, not above: `slowatch --help` builds this parser without the store)

    from slowatch.cli_config import load_or_report
    from slowatch.store.schema import check_identity, migrate, open_error

    config = load_or_report(args.config, command="correct")
    if config is None:
        return 2
    path = args.db or config.server.database
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=args.lock_wait)
    except sqlite3.Error as e:
        print(open_error(path, e), file=sys.stderr)
        return 2
    try:
        check_identity(conn, path)  # another program's file: refused before a migration adds our tables to it
        migrate(Database(conn), path=path, upgrade=False)  # a daemon may be running on it (schema.py)
    except (sqlite3.Error, StoreError) as e:
        conn.close()
        print(open_error(path, e), file=sys.stderr)
        return 2
    try:
        return _run(args, config, conn)
    except sqlite3.OperationalError as e:  # a write lock held past --lock-wait (a daemon's take at most seconds)
        print(f"slowatch correct: database {path}: {e} (for {args.lock_wait:g} s); nothing was written, try again",
              file=sys.stderr)  # fmt: skip
        return 2
    finally:
        conn.close()


def _run(args: argparse.Namespace, config: object, conn: sqlite3.Connection) -> int:
    from slowatch.config.schema import Config
    from slowatch.slo.corrections import reason_problems, revoke_problems, validate
    from slowatch.store.correction_tables import all_corrections, applied, insert_correction
    from slowatch.web.corrections import parse_time

    assert isinstance(config, Config)
    now = dt.datetime.now(dt.UTC).timestamp()
    rows = all_corrections(conn)
    if args.list:
        state = applied(conn)
        for r in rows:
            scope = (
                r["consumer"]
                + (f"/{r['slo']}" if r["slo"] else "")
                + (f" endpoint {r['endpoint']}" if r["endpoint"] else "")
            )
            if r["action"] == "correct":
                status = (
                    f"revoked by #{r['revoked_by']}"
                    if r["revoked_by"]
                    else ("applied" if state.get(r["id"]) else "pending")
                )
                span = f"{_when(r['start'])}..{_when(r['end'])}"
                print(f"#{r['id']} {scope} {span} by {one_line(r['author'], 100)} ({status}): {one_line(r['reason'])}")
            else:
                print(f"#{r['id']} revokes #{r['revokes']} by {one_line(r['author'], 100)}: {one_line(r['reason'])}")
        return 0
    author = f"cli:{getpass.getuser()}"
    if args.revoke is not None:
        found = next((r for r in rows if r["id"] == args.revoke and r["action"] == "correct"), None)
        errors = [f"no correction #{args.revoke}"] if found is None else []
        if found is not None and found["revoked_by"] is not None:
            errors.append(f"correction #{args.revoke} is already revoked (by #{found['revoked_by']})")
        if found is not None and found["revoked_by"] is None:
            errors.extend(revoke_problems(config, found, now))
        errors.extend(f"{problem} (--reason)" for problem in reason_problems(args.reason))
        if errors or found is None:
            print("slowatch correct: " + "; ".join(errors), file=sys.stderr)
            return 2
        keep = {k: found[k] for k in ("consumer", "slo", "endpoint", "start", "end")}
        row = {
            "created_at": now,
            "author": author,
            "action": "revoke",
            **keep,
            "reason": args.reason,
            "revokes": args.revoke,
        }
    else:
        try:
            start, end = parse_time(args.start, "--from"), parse_time(args.end, "--to")
        except ValueError as e:
            print(f"slowatch correct: {e}", file=sys.stderr)
            return 2
        consumer = args.consumer or ""
        errors = validate(config, consumer, args.slo, args.endpoint, start, end, args.reason, now)
        if errors:
            print("slowatch correct: " + "; ".join(errors), file=sys.stderr)
            return 2
        row = {"created_at": now, "author": author, "action": "correct", "consumer": consumer, "slo": args.slo}
        row |= {"endpoint": args.endpoint, "start": start, "end": end, "reason": args.reason, "revokes": None}
    conn.execute("BEGIN IMMEDIATE")
    new_id = insert_correction(conn, row)
    conn.execute("COMMIT")
    what = f"revocation of #{args.revoke}" if args.revoke is not None else "correction"
    print(f"recorded {what} as #{new_id}; a running daemon applies it within 10 s, a stopped one when it starts")
    return 0


__all__ = ["add_correct_arguments", "run_correct"]
