"""`slowatch report`'s options and their checks: what `slowatch --help` and argparse need, without the
report itself (slowatch/report.py: the config, the SLO definitions, the store's read side).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math

from slowatch.cli_flags import db_argument
from slowatch.durations import parse_duration

FORMATS = ("table", "json", "csv", "markdown", "html")


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", required=True, help="the slowatch YAML config")
    parser.add_argument(
        "--database", "--db", type=db_argument, help="SQLite file (default: server.database from the config)"
    )
    parser.add_argument("--consumer", help="only this consumer")
    parser.add_argument("--slo", help="only SLOs with this name")
    period = parser.add_mutually_exclusive_group()
    period.add_argument("--window", type=_window, help="a rolling period ending now, e.g. 30d")
    period.add_argument("--month", type=_month, help="a calendar month, e.g. 2026-10")
    parser.add_argument("--objective", type=_objective, help="what-if objective in percent, e.g. 99.95")
    parser.add_argument("--format", choices=FORMATS, default="table")
    parser.add_argument("--at", type=_instant, help="report as of this instant (ISO 8601; default now)")


def _month(text: str) -> tuple[int, int]:
    from slowatch.slo.windows import parse_month

    try:
        return parse_month(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


LONGEST_WINDOW = 36_500 * 86_400.0
"""The longest `--window`: 100 years (any `--at` minus it is still a date Python can show)."""

LAST_INSTANT = dt.datetime(9998, 12, 31, tzinfo=dt.UTC).timestamp()
"""The latest `--at`: its periods (a quarter, a week from Monday) still end before year 10000."""


def _instant(text: str) -> float:
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an instant: {text[:40]!r} (ISO 8601 with an offset, e.g. 2026-11-01T00:00:00Z)"
        ) from None
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError("give an offset, e.g. 2026-11-01T00:00:00Z")
    if not 0.0 <= parsed.timestamp() <= LAST_INSTANT:
        raise argparse.ArgumentTypeError(f"must be from 1970-01-01 to 9998-12-31 (got {text[:40]!r})")
    return parsed.timestamp()


def _objective(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 < value < 100.0:  # (NaN fails it too)
        raise argparse.ArgumentTypeError(f"must be a percentage between 0 and 100, exclusive (got {text[:40]!r})")
    return value


def _window(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be longer than 0s (got {text[:40]!r})")
    if seconds > LONGEST_WINDOW:  # (a window reaching before year 1 ended in a ValueError traceback)
        raise argparse.ArgumentTypeError(f"must be at most 36500d, 100 years (got {text[:40]!r})")
    return seconds


__all__ = ["FORMATS", "LAST_INSTANT", "add_report_arguments"]
