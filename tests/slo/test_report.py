"""`slowatch report` over a database written by a real Store and SloService."""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from slowatch.clock import FakeClock
from slowatch.config import load
from slowatch.config.schema import RetentionConfig
from slowatch.report import add_report_arguments, run_report
from slowatch.slo.service import SloService
from slowatch.store import Store
from tests.slo.helpers import result

OCT_START = dt.datetime(2026, 9, 30, 22, tzinfo=dt.UTC).timestamp()  # Oct 1 00:00 in Berlin
OCT_END = dt.datetime(2026, 10, 31, 23, tzinfo=dt.UTC).timestamp()


def utc(*args: int) -> float:
    return dt.datetime(*args, tzinfo=dt.UTC).timestamp()  # type: ignore[arg-type, misc]


BAD = {utc(2026, 10, 15, 10, m) for m in range(0, 60, 10)} | {utc(2026, 10, 20, 12), utc(2026, 10, 20, 12, 10)}
MAINTENANCE = {utc(2026, 10, 10, h, m) for h in (0, 1) for m in range(0, 60, 10)}

CONFIG = """
server: {{database: "{db}"}}
endpoints:
  - {{name: api, kind: http, url: "http://api/"}}
consumers:
  - name: checkout
    endpoints: [api]
    slos:
      - {{name: availability, sli: availability, objective: 99, window: {{calendar: month, timezone: Europe/Berlin}}}}
maintenance:
  - {{name: migration, endpoints: [api], start: 2026-10-10T00:00:00Z, end: 2026-10-10T02:00:00Z}}
"""


def fill(path: Path, probed: Callable[[float], bool] = lambda ts: True) -> None:
    """A probe of `api` every 10 minutes of October where `probed`, by a real Store and SloService."""

    async def run() -> None:
        config = load(path)
        clock = FakeClock(OCT_START - 60)  # the service starts before the first probe
        store = Store(config.server.database, clock=clock, retention=RetentionConfig(), batch_interval=0.01)
        await store.start()
        service = SloService(config, store, clock, refresh_interval=3600, persist_interval=3600)
        await service.start()
        ts = OCT_START
        while ts < OCT_END:
            clock.set(ts)
            if probed(ts):
                r = result(ts, ok=ts not in BAD and ts not in MAINTENANCE, endpoint="api")
                store.record(r)
                service.observe(r)
            ts += 600
        await service.stop()
        await store.close()

    asyncio.run(run())


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    path = tmp / "slowatch.yaml"
    path.write_text(CONFIG.format(db=tmp / "slowatch.db"))
    fill(path)
    return path


def report(config_file: Path, *argv: str, at: str = "2026-11-01T12:00:00Z") -> tuple[int, str]:
    """`slowatch report --config FILE --at AT ARGV...` in-process: (exit code, what it printed)."""
    parser = argparse.ArgumentParser()
    add_report_arguments(parser)
    args = parser.parse_args(["--config", str(config_file), "--at", at, *argv])
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.stdout", out)
        code = run_report(args)
    return code, out.getvalue()


def test_a_running_month_has_used_the_bad_time_so_far_not_its_rate_over_the_month(config_file: Path) -> None:
    """Half of October: the budget used is (1 - SLI) x the time with data so far, not x the whole month
    (which read as if the month's rate had run all month: "26d" used after four days of an outage)."""
    code, text = report(config_file, "--month", "2026-10", "--format", "json", at="2026-10-16T00:00:00Z")
    assert code == 0
    [f] = json.loads(text)
    assert (f["good"], f["total"], f["data_since"]) == (2160, 2166, OCT_START)  # 6 bad (Oct 15)
    assert f["period_seconds"] == 745 * 3600  # the whole month's budget
    assert f["end"] == utc(2026, 10, 16) + 1  # (the report's end: now + 1 s)
    covered = f["end"] - OCT_START - 2 * 3600  # less the 2 h of maintenance: neither good nor bad time
    assert f["data_seconds"] == pytest.approx(covered)
    assert f["used_seconds"] == pytest.approx(6 / 2166 * covered)  # an hour, not 745 h x 6/2166


def test_a_gap_without_probes_is_not_counted_as_used_time(tmp_path: Path) -> None:
    """Probes on October 1-15 and 28-31 only (the daemon was down in between): the 12 days without data are
    neither good nor bad, so USED is (1 - SLI) x the 19 days with data (before session 10: x the 31 days from the
    first data to the end of the month, as if the gap had run at the same error rate)."""
    path = tmp_path / "slowatch.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "slowatch.db"))
    fill(path, lambda ts: not utc(2026, 10, 15, 22) <= ts < utc(2026, 10, 27, 23))  # Oct 16-27 in Berlin: none
    code, text = report(path, "--month", "2026-10", "--format", "json")
    assert code == 0
    [f] = json.loads(text)
    hours = 745 - 12 * 24 - 1 - 2  # the month, less the gap (12 days and the hour summer time ended) and maintenance
    assert (f["good"], f["total"], f["data_since"]) == (hours * 6 - 6, hours * 6, OCT_START)  # Oct 15's bad six
    assert f["data_seconds"] == hours * 3600
    assert f["used_seconds"] == pytest.approx(3600)  # the six bad probes' hour, not 6/2724 x 745 h (98 min)
    assert f["budget_seconds"] == pytest.approx(0.01 * hours * 3600)  # over the time with data (session 11)
    assert f["left_seconds"] == pytest.approx(0.01 * hours * 3600 - 3600)
    assert f["left_seconds"] == pytest.approx(f["budget_remaining"] * f["budget_seconds"])
    code, table = report(path, "--month", "2026-10")
    assert code == 0
    row = table.splitlines()[1]  # BUDGET, USED, LEFT: were 1h38m27s, 5h48m33s; then 7h27m (the whole month), 1h, 6h27m
    words = "2026-10 (Europe/Berlin) 99.000% 99.780% 4h32m24s (18d22h with data) 1h 3h32m24s 78% ok"  # 78% of 4h32m24s
    assert " ".join(row.split()).endswith(words), row


def test_json_report_for_a_month(config_file: Path) -> None:
    code, text = report(config_file, "--month", "2026-10", "--format", "json")
    assert code == 0
    [f] = json.loads(text)
    assert (f["consumer"], f["slo"], f["period"], f["state"]) == ("checkout", "availability", "2026-10", "ok")
    assert (f["good"], f["total"], f["excluded_events"]) == (4450, 4458, 12)  # 4470 probes, 12 in maintenance
    assert f["period_seconds"] == 745 * 3600
    assert f["budget_seconds"] == pytest.approx(0.01 * 743 * 3600)  # over the time with data: not the maintenance
    assert f["used_seconds"] == pytest.approx(8 / 4458 * 743 * 3600)  # not x the 2 h of maintenance
    assert f["budget_remaining"] == pytest.approx(1 - (8 / 4458) / 0.01)
    assert [d["day"] for d in f["worst_days"]] == ["2026-10-15", "2026-10-20"]
    assert f["worst_days"][0]["good"] == 138 and f["worst_days"][0]["total"] == 144
    spans = [(i["start"], i["end"]) for i in f["incidents"]]
    assert (utc(2026, 10, 15, 10), utc(2026, 10, 15, 11)) in spans
    assert f["maintenance"] == ["migration"]


def test_what_if_objective_and_other_formats(config_file: Path) -> None:
    code, text = report(config_file, "--month", "2026-10", "--objective", "99.9", "--format", "csv")
    assert code == 0
    [row] = list(csv.DictReader(io.StringIO(text)))
    assert float(row["objective_percent"]) == pytest.approx(99.9)
    assert float(row["budget_remaining_ratio"]) == pytest.approx(1 - (8 / 4458) / 0.001)
    code, text = report(config_file, "--month", "2026-10", "--objective", "99.9", "--format", "markdown")
    assert code == 0
    assert "## checkout" in text and "| availability | 2026-10 (Europe/Berlin) | 99.900% | 99.821% |" in text
    assert "budget exhausted (overspent by 79.5%)" in text and "Worst days: 2026-10-15 (95.833%)" in text
    assert "Planned maintenance (migration): 12 probes excluded from the budget" in text
    code, text = report(config_file, "--month", "2026-10")
    assert code == 0
    head, first = text.splitlines()[:2]
    assert head.split() == ["CONSUMER", "SLO", "PERIOD", "OBJECTIVE", "SLI", "BUDGET", "USED", "LEFT", "LEFT%", "STATE"]
    assert first.split()[:6] == ["checkout", "availability", "2026-10", "(Europe/Berlin)", "99.000%", "99.821%"]
    assert "7h25m48s (30d23h with data)" in first  # 1% of the 743 hours with data (745 less 2 of maintenance)


def test_default_period_is_the_slo_window_and_errors_exit_non_zero(config_file: Path, tmp_path: Path) -> None:
    code, text = report(config_file, "--format", "json")  # November has just begun: no data yet
    assert code == 0 and json.loads(text)[0]["state"] == "no_data" and json.loads(text)[0]["sli"] is None
    assert report(config_file, "--consumer", "nobody")[0] == 1
    assert report(config_file, "--database", str(tmp_path / "missing.db"))[0] == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("consumers: [{name: x, slos: [{name: s, sli: availability, objective: 100}]}]\n")
    assert report(bad)[0] == 2


@pytest.mark.parametrize("month", ["9999-12", "0001-01", "1969-12", "2026-13"])
def test_a_month_beyond_the_calendar_is_a_usage_error(
    config_file: Path, month: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        report(config_file, "--month", month)
    assert exit_.value.code == 2
    assert f"not a month: {month!r} (use YYYY-MM, from 1970-01 to 9998-12)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--at", "0001-01-01T00:00:00Z"], "--at: must be from 1970-01-01 to 9998-12-31"),
        (["--at", "9999-12-31T23:59:59-14:00"], "--at: must be from 1970-01-01 to 9998-12-31"),
        (["--at", "yesterday"], "--at: not an instant: 'yesterday' (ISO 8601 with an offset"),
        (["--objective", "100"], "--objective: must be a percentage between 0 and 100, exclusive"),
        (["--objective", "-5"], "--objective: must be a percentage between 0 and 100, exclusive"),
        (["--objective", "nan"], "--objective: must be a percentage between 0 and 100, exclusive"),
        (["--window", "0s"], "--window: must be longer than 0s"),
    ],
)
def test_an_absurd_instant_objective_or_window_is_a_usage_error(
    config_file: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Year 1 or 9999 as `--at` was a traceback (year 0 is out of range); an objective of -5% or 100%
    printed a report with it, and a 0s window one of nothing."""
    parser = argparse.ArgumentParser()
    add_report_arguments(parser)
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(["--config", str(config_file), *argv])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["json", "html"])
def test_the_first_and_last_instants_and_months_around_the_data(config_file: Path, fmt: str) -> None:
    for at in ("1970-01-01T00:00:00Z", "9998-12-31T00:00:00Z"):
        code, text = report(config_file, "--format", fmt, at=at)
        assert code == 0 and text
    # the current month at its first second (Berlin midnight), and the last one before it, whole
    code, text = report(config_file, "--format", "json", at="2026-10-31T23:00:00Z")
    [f] = json.loads(text)
    assert (f["period"], f["start"], f["end"], f["state"]) == ("month 2026-11", OCT_END, OCT_END + 1, "no_data")
    code, text = report(config_file, "--format", "json", at="2026-10-31T22:59:59Z")
    [f] = json.loads(text)
    assert (f["period"], f["good"], f["total"], f["end"]) == ("month 2026-10", 4450, 4458, OCT_END)
    # a month before the database existed, and one after now: no data, and a period that never ends
    # before it starts (a future month ended at now: before its start)
    for month in ("2026-09", "2026-12"):
        code, text = report(config_file, "--month", month, "--format", "json")
        [f] = json.loads(text)
        assert code == 0 and f["state"] == "no_data" and f["total"] == 0 and f["start"] <= f["end"], f


SHARED = """
server: {{database: "{db}"}}
endpoints:
  - {{name: api, kind: http, url: "http://api/"}}
consumers:
  - name: checkout
    endpoints: [api]
    slos:
      - {{name: availability, sli: availability, objective: 99, window: 30d}}
      - {{name: monthly, sli: availability, objective: 99, window: {{calendar: month, timezone: Asia/Kolkata}}}}
"""


def test_data_seconds_counts_the_stored_cells_length_when_a_sub_hour_zone_shares_the_ledger(tmp_path: Path) -> None:
    """A rolling SLO sharing its ledger (same fingerprint) with a calendar SLO in a zone with a half-hour offset:
    the ledger's cells are 15 minutes (engine.py: the shortest), so the report must not count each stored cell
    as the rolling SLO's own hour (4x the time with data: USED four times the bad time)."""
    path = tmp_path / "slowatch.yaml"
    path.write_text(SHARED.format(db=tmp_path / "slowatch.db"))
    first, last = utc(2026, 10, 20), utc(2026, 10, 22)
    fill(path, lambda ts: first <= ts < last)  # two days of probes every 10 minutes, none bad
    code, text = report(path, "--slo", "availability", "--format", "json", at="2026-10-22T00:00:00Z")
    assert code == 0
    [f] = json.loads(text)
    assert f["total"] == 2 * 144
    assert f["data_seconds"] == pytest.approx(last - first)


def test_a_rolling_window_starting_inside_an_hour_with_data_is_covered_from_its_start(config_file: Path) -> None:
    """A 30d report at 14:23 starts inside an hour cell with data. It used to start counting at 15:00, and read
    "(29d23h with data)" when every hour had probes; it starts at the hour, as the daemon's window does."""
    code, text = report(config_file, "--window", "30d", "--format", "json", at="2026-10-31T14:23:00Z")
    assert code == 0
    [f] = json.loads(text)
    assert f["start"] == utc(2026, 10, 1, 14)
    assert f["data_seconds"] == pytest.approx(30 * 86400 + 23 * 60 + 1 - 2 * 3600)  # all of it but maintenance
    # from 00:23 inside maintenance (a cell without counted probes): covered from 02:00, the end of maintenance
    code, text = report(config_file, "--window", "30d", "--format", "json", at="2026-11-09T00:23:00Z")
    [f] = json.loads(text)
    assert f["data_seconds"] == pytest.approx(utc(2026, 10, 31, 23) - utc(2026, 10, 10, 2))


def test_the_text_report_gives_no_budget_as_time_while_the_slo_collects_data(tmp_path: Path) -> None:
    """Ten probes of the hundred a 99 % SLO needs: USED and LEFT read n/a, and so does BUDGET now (it read "1m"
    of a budget the consumer page and the HTML report say there is not yet)."""
    path = tmp_path / "slowatch.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "slowatch.db"))
    fill(path, lambda ts: ts < OCT_START + 6000)
    code, table = report(path, "--month", "2026-10")
    assert code == 0
    row = " ".join(table.splitlines()[1].split())
    assert "n/a n/a n/a" in row and "collecting" in row, row
