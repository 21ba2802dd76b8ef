"""`slowatch report`: SLIs and error budgets per consumer and SLO, from the database.

    slowatch report --config FILE [--consumer NAME] [--slo NAME] [--window 30d | --month 2026-10]
                    [--objective 99.95] [--format table|json|csv|markdown] [--at 2026-11-01T00:00:00Z]

Opens the database read-only (the daemon may be running; WAL lets both work), never migrates it, and
refuses one of a newer schema or one older than it reads (store/read_only.py). The period is the
SLO's own window by default; `--month` is that calendar month in the SLO's time zone (UTC for
rolling SLOs); `--objective` recomputes the budget for another objective (a what-if). Deploy
annotations in the period add the budget burned in the 4 hours after each (not in csv). A sharded
instance's database is read as the shard it records (`cluster.database_view`), whatever the config says.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import sqlite3
import sys
from dataclasses import asdict
from zoneinfo import ZoneInfo

from slowatch.cli_config import load_or_report
from slowatch.config.consumers import resolve_endpoints
from slowatch.config.schema import Config
from slowatch.durations import format_duration
from slowatch.report_args import add_report_arguments
from slowatch.reports.deploys import DeployImpact, deploys_text, impact_json, report_deploys
from slowatch.slo import report_format
from slowatch.slo.definitions import SloDef, compile_config
from slowatch.slo.history import SloFigures, slo_figures
from slowatch.slo.windows import CalendarPeriod, RollingWindow, month_bounds
from slowatch.store.read_only import begin_read, missing

Key = tuple[str, str]


def _period(d: SloDef, args: argparse.Namespace, now: float) -> tuple[str, float, float, float, ZoneInfo]:
    """(label, start, end, full length, time zone) of the period to report on."""
    tz = d.window.tz if isinstance(d.window, CalendarPeriod) else ZoneInfo("UTC")
    if args.month is not None:
        year, month = args.month
        start, end = month_bounds(year, month, tz)
        # a month after now is empty (it ended at now: before its start)
        return f"{year:04d}-{month:02d}", start, max(start, min(end, now + 1)), end - start, tz
    if args.window is not None:  # the daemon's rule (RollingWindow.start): the current hour and the window before it
        return format_duration(args.window), RollingWindow(args.window).start(now), now + 1, args.window, tz
    if isinstance(d.window, CalendarPeriod):
        start, end = d.window.bounds(now)
        label = dt.datetime.fromtimestamp(start, tz).strftime("%Y-%m" if d.window.unit == "month" else "%Y-%m-%d")
        return f"{d.window.unit} {label}", start, now + 1, end - start, tz
    return d.window.label, d.window.start(now), now + 1, d.window.seconds, tz


def _maintenance(config: Config, d: SloDef) -> tuple[str, ...]:
    names = []
    for m in config.maintenance:
        endpoints = set(resolve_endpoints(m.endpoints, config.endpoints))
        if d.consumer in m.consumers or endpoints & set(d.endpoints):
            names.append(m.name)
    return tuple(names)


def collect(config: Config, conn: sqlite3.Connection, args: argparse.Namespace, now: float) -> list[SloFigures]:
    objective = None if args.objective is None else args.objective / 100.0
    out = []
    for d in compile_config(config):
        if (args.consumer and d.consumer != args.consumer) or (args.slo and d.name != args.slo):
            continue
        label, start, end, length, tz = _period(d, args, now)
        calendar = args.month is not None or (args.window is None and isinstance(d.window, CalendarPeriod))
        out.append(
            slo_figures(
                conn,
                d,
                period=label,
                start=start,
                end=end,
                period_seconds=length,
                tz=tz,
                objective=objective,
                maintenance=_maintenance(config, d),
                zone=tz.key if calendar else "",
                now=now,
            )
        )
    return out


def run_report(args: argparse.Namespace) -> int:
    config = load_or_report(args.config, command="report")
    if config is None:
        return 2
    from slowatch.cluster import database_view, stored_shard

    if (nothing := _nothing_to_report(config, args)) is not None:
        print(nothing, file=sys.stderr)
        return 1
    path = args.database or config.server.database
    if (absent := missing(path)) is not None:
        print(absent, file=sys.stderr)
        return 2
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as e:
        print(f"cannot read SLO data from {path}: {e}", file=sys.stderr)
        return 2
    try:
        refused = begin_read(conn, path, "report")  # one read transaction; a schema it cannot read: why (read_only.py)
        if refused is None:
            conn.execute("SELECT 1 FROM slo_cells LIMIT 1")
    except sqlite3.Error as e:
        refused = f"cannot read SLO data from {path}: {e}"
    if refused is not None:
        conn.close()
        print(refused, file=sys.stderr)
        return 2
    try:
        # a sharded instance's database holds its own endpoints only (the shard it records, else the config's)
        view, mismatch = database_view(config, stored_shard(conn))
        config = view.local
        if mismatch:
            print(f"note: {path}: {mismatch}", file=sys.stderr)
        for name, partial in view.partial.items():
            if not args.consumer or args.consumer == name:
                print(f"note: consumer {name}: {partial.text}", file=sys.stderr)
        conn.execute("PRAGMA query_only = 1")
        now = args.at if args.at is not None else dt.datetime.now(dt.UTC).timestamp()
        if args.format == "html":
            return _html(config, conn, args, now)
        figures = collect(config, conn, args, now)
        deploys = _deploys(config, conn, figures)
    finally:
        conn.close()
    if not figures:
        print("no SLO matches the given --consumer/--slo", file=sys.stderr)
        return 1
    if args.format == "json":
        docs = [_jsonable(f) | {"after_deploys": [impact_json(i) for i in deploys[(f.consumer, f.slo)]]}
                for f in figures]  # fmt: skip
        sys.stdout.write(json.dumps(docs, indent=2) + "\n")
        return 0
    after = deploys_text(deploys, markdown=args.format == "markdown") if args.format != "csv" else ""
    sys.stdout.write(render(figures, args.format) + after)
    return 0


def _nothing_to_report(config: Config, args: argparse.Namespace) -> str | None:
    """Why no SLO can match, before the database is read: no consumers at all, or an unknown --consumer."""
    from slowatch.config.messages import did_you_mean

    names = [c.name for c in config.consumers]
    if not names:
        return f"{args.config} defines no consumers: a report is of consumers' SLOs (see `consumers` in the README)"
    if args.consumer and args.consumer not in names:
        return f"no consumer named {args.consumer!r}" + did_you_mean(args.consumer, names)
    return None


def _deploys(config: Config, conn: sqlite3.Connection, figures: list[SloFigures]) -> dict[Key, list[DeployImpact]]:
    """The budget burned after each deploy annotation, per reported SLO (slowatch/reports/deploys.py)."""
    endpoints = {c.name: set(resolve_endpoints(c.endpoints, config.endpoints)) for c in config.consumers}
    return report_deploys(conn, compile_config(config), figures, endpoints)


def _html(config: Config, conn: sqlite3.Connection, args: argparse.Namespace, now: float) -> int:
    from slowatch.reports.html import report_html
    from slowatch.slo.snapshot import Snapshot

    consumers = [c for c in config.consumers if not args.consumer or c.name == args.consumer]
    if not consumers:
        here = "in this database's shard"  # (the config's consumers were checked before the database was read)
        why = (
            f"consumer {args.consumer!r} has no endpoint {here}"
            if args.consumer
            else f"no consumer has an endpoint {here}"
        )
        print(why, file=sys.stderr)
        return 1
    sys.stdout.write(report_html(conn, config, consumers, Snapshot(now), now, args.month))
    return 0


def render(figures: list[SloFigures], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([_jsonable(f) for f in figures], indent=2) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(report_format.CSV_COLUMNS)
        writer.writerows(report_format.csv_row(f) for f in figures)
        return buf.getvalue()
    if fmt == "markdown":
        return report_format.markdown(figures)
    return report_format.table(figures)


def _jsonable(f: SloFigures) -> dict[str, object]:
    data = asdict(f)
    data["state"] = f.state.value
    data["budget_seconds"], data["used_seconds"], data["left_seconds"] = (
        f.budget_seconds,
        f.used_seconds,
        f.left_seconds,
    )
    data["worst_days"] = [{**asdict(day), "sli": day.sli} for day in f.worst_days]
    return data


__all__ = ["add_report_arguments", "collect", "render", "run_report"]
