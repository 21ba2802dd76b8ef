"""`slowatch report --format html`: one self-contained file with a summary, chart, worst days and incidents."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from tests.slo.test_report import config_file, report

__all__ = ["config_file"]  # the module-scoped fixture with October's history


def test_html_report_for_a_month_is_self_contained_and_says_how_it_went(config_file: Path) -> None:
    code, html = report(config_file, "--month", "2026-10", "--format", "html", "--consumer", "checkout")
    assert code == 0 and html.startswith("<!doctype html>")
    # Self-contained: no scripts, no external references of any kind.
    assert "<script" not in html and not re.search(r"(src|href)=['\"]?https?:", html) and "@import" not in html
    assert "@media print" in html
    assert "Service report: checkout, October 2026" in html
    # 8 bad probes of 4,458 at 99%: 17.9% of the budget, six of them in the 15 Oct outage.
    assert "Kept its promise; 17.9% of the budget used, mostly by the 15 Oct api outage (1h)." in html
    assert "<span>attained</span><b>99.82%</b>" in html or "<span>attained</span><b>99.821%</b>" in html
    assert "2026-10-15: 95.833% (138 of 144 good)" in html  # the worst day first
    assert "12 probes excluded (migration)" in html
    points = re.search(r"class='chart burndown'[^>]*data-points='(\d+)'", html)
    assert points and int(points.group(1)) > 700  # one per hour with data in October
    assert "2026-10-15 10:00 UTC" in html


def test_html_report_for_every_consumer_and_an_unknown_one(config_file: Path) -> None:
    code, html = report(config_file, "--month", "2026-10", "--format", "html")
    assert code == 0 and "Service report: checkout" in html
    code, _ = report(config_file, "--format", "html", "--consumer", "nobody")
    assert code == 1


def test_csv_figures_are_rounded_sensibly(config_file: Path) -> None:
    code, text = report(config_file, "--month", "2026-10", "--format", "csv")
    assert code == 0
    [row] = list(csv.DictReader(io.StringIO(text)))
    assert row["budget_total_seconds"] == "26748.0"  # 1% of the 743 h with data, not 26748.000000000004
    assert row["data_seconds"] == "2674800.0"
    assert row["objective_percent"] == "99.0"
    for key in ("sli_percent", "budget_used_seconds", "budget_left_seconds", "budget_used_ratio"):
        decimals = row[key].partition(".")[2]
        assert len(decimals) <= 6, (key, row[key])
