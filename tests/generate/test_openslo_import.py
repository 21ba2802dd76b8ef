"""`slowatch import openslo`: OpenSLO -> consumers block; round trips; every unmappable thing is a located error."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from slowatch.alerting.policy import PolicyBook
from slowatch.cli import main
from slowatch.config import load, load_text
from slowatch.config.schema import Config
from slowatch.generate.openslo import generate, render
from slowatch.generate.openslo_import import import_files
from slowatch.generate.openslo_import import render as render_import
from slowatch.slo.definitions import compile_config
from slowatch.slo.windows import RollingWindow

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "config" / "slowatch.yaml"
RICH = Path(__file__).with_name("rich.yaml")


def without_blocks(text: str, keys: tuple[str, ...]) -> str:
    """The config text without the given top-level blocks (each runs to the next top-level key)."""
    out, skipping = [], False
    for line in text.splitlines(keepends=True):
        if re.match(r"[A-Za-z_]", line):
            skipping = line.split(":")[0] in keys
        if not skipping:
            out.append(line)
    return "".join(out)


def definitions(config: Config) -> list[tuple[Any, ...]]:
    book = PolicyBook(config)
    out = []
    for d in compile_config(config):
        length = d.window.seconds if isinstance(d.window, RollingWindow) else 30 * 86400.0
        policy = book.get(d.consumer, d.name)
        tiers = policy.tiers_for(length) if policy.enabled else ()
        out.append((d, d.fingerprint, tiers, policy.enabled, policy.no_data_after, policy.exhausted_threshold))
    return out


def round_trip(path: Path, tmp_path: Path) -> tuple[Config, Config, str]:
    original = load(path)
    docs = tmp_path / "slos.yaml"
    docs.write_text(render(generate(original), str(path)))
    result = import_files([str(docs)])
    assert result.problems == []
    block = render_import(result, [str(docs)])
    keys = ("consumers", "maintenance") + (("alerting",) if "\nalerting:" in block else ())
    text = without_blocks(path.read_text(), keys) + block
    (tmp_path / "back.yaml").write_text(text)
    return original, load_text(text, "back.yaml"), block


@pytest.mark.parametrize("path", [SHIPPED, RICH], ids=["shipped", "rich"])
def test_config_to_openslo_to_config_gives_the_same_slos(path: Path, tmp_path: Path) -> None:
    original, back, _ = round_trip(path, tmp_path)
    # objective, window, budgeting and slices, SLI kind and threshold, resolved endpoints (fingerprint)
    assert definitions(back) == definitions(original)
    assert [c.model_dump() for c in back.consumers] == [c.model_dump() for c in original.consumers]
    assert back.maintenance == original.maintenance
    assert main(["check", str(tmp_path / "back.yaml")]) == 0


def test_shipped_import_output(tmp_path: Path) -> None:
    _, _, block = round_trip(SHIPPED, tmp_path)
    assert "\nalerting:" not in block  # the default tiers need no override
    assert block.splitlines()[2:12] == [
        "consumers:", "- name: checkout", "  description: Checkout web and mobile apps", "  endpoints:",
        "  - payments-api", "  - catalog-api", "  - auth-api", "  slos:", "  - name: availability",
        "    sli: availability",
    ]  # fmt: skip


HAND = """\
apiVersion: openslo/v1
kind: SLO
metadata:
  name: shop-fast
  displayName: Shop is fast
spec:
  service: shop
  indicator:
    metadata:
      name: shop-fast
      annotations: {slowatch/sli: latency, slowatch/threshold: 300ms, slowatch/endpoints: '["a"]'}
    spec:
      ratioMetric:
        counter: true
        good: {metricSource: {type: Prometheus, spec: {query: 'GOOD'}}}
        total: {metricSource: {type: prometheus, spec: {query: 'TOTAL'}}}
  timeWindow: [{duration: 4w, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{targetPercent: 99.25}]
  alertPolicies:
    - kind: AlertPolicy
      metadata: {name: fast-page}
      spec:
        alertWhenBreaching: true
        alertWhenResolved: true
        conditions:
          - kind: AlertCondition
            metadata: {name: fast-page, annotations: {slowatch/short-window: 5m}}
            spec: {severity: page, condition: {kind: burnrate, op: gte, threshold: 10, lookbackWindow: 1h}}
        notificationTargets: [{targetRef: pager}]
""".replace("GOOD", 'sum(rate(slowatch_slo_good_events_total{slo="fast", consumer="shop"}[{{.window}}]))').replace(
    "TOTAL", 'sum(rate(slowatch_slo_events_total{consumer="shop",slo="fast"}[5m]))'
)


def test_hand_written_slo_in_the_same_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "hand.yaml").write_text(HAND)
    assert main(["import", "openslo", str(tmp_path / "hand.yaml")]) == 0
    out, err = capsys.readouterr()
    assert "consumers:\n- name: shop\n  endpoints:\n  - a\n  slos:\n  - name: fast\n    sli: latency\n" in out
    assert "    threshold: 300ms\n    objective: 99.25\n    window: 28d\n" in out
    assert "burn_tiers:\n    - severity: page\n      long: 1h\n      short: 5m\n      factor: 10.0\n" in out
    assert f"note: {tmp_path}/hand.yaml:5:16 SLO shop-fast metadata.displayName: not imported" in err
    assert "notification target 'pager' not imported" in err
    endpoints = "endpoints: [{name: a, kind: http, url: 'http://127.0.0.1:9/'}]\n"
    config = load_text(endpoints + out)
    assert config.alerting.slos[0].burn_tiers is not None and config.consumers[0].slos[0].objective == 99.25


BAD = """\
apiVersion: openslo/v1
kind: SLO
metadata:
  name: shop-avail
  annotations: {slowatch/endpoint: x}
spec:
  service: shop
  indicatorRef: nowhere
  timeWindow: [{duration: 30d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{target: 0.99}]
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: shop-two}
spec:
  service: shop
  indicatorRef: shop-sli
  timeWindow: [{duration: 30d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{target: 0.99}, {target: 0.9}]
---
apiVersion: openslo/v1
kind: SLI
metadata:
  name: shop-sli
  annotations: {slowatch/sli: availability, slowatch/endpoints: '["a"]'}
spec:
  ratioMetric:
    counter: true
    good: {metricSource: {type: Prometheus, spec: {query: 'GOOD'}}}
    total: {metricSource: {type: Prometheus, spec: {query: 'TOTAL'}}}
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: shop-cal}
spec:
  service: shop
  indicatorRef: shop-sli
  timeWindow: [{duration: 1M, calendar: {startTime: '2024-01-15 00:00:00', timeZone: UTC}}]
  budgetingMethod: Occurrences
  objectives: [{target: 0.99}]
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: shop-typo}
spec:
  service: shop
  indicatorRef: shop-sli
  timeWindow: [{duration: 30d, isRolling: true}]
  budgetingMetod: Occurrences
  objectives: [{target: 0.99}]
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: shop-ratio}
spec:
  service: shop
  indicatorRef: shop-sli
  timeWindow: [{duration: 30d, isRolling: true}]
  budgetingMethod: RatioTimeslices
  objectives: [{target: 0.99, timeSliceWindow: 1m}]
""".replace("GOOD", 'sum(rate(slowatch_slo_good_events_total{consumer="shop",slo="x"}[5m]))').replace(
    "TOTAL", 'sum(rate(slowatch_slo_events_total{consumer="shop",slo="two"}[5m]))'
)


def test_unmappable_documents_are_located_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    assert main(["import", "openslo", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    errors = [line.removeprefix(f"{path}:") for line in err.splitlines() if not line.startswith("note:")]
    known = "slowatch/budget-percent, slowatch/consumer, slowatch/endpoints, slowatch/exhausted-threshold, "
    known += "slowatch/maintenance, slowatch/no-data-after, slowatch/policy, slowatch/short-window, "
    known += "slowatch/sli, slowatch/slo, "
    query = "31:59 SLI shop-sli spec.ratioMetric.good.metricSource.spec.query: cannot map: the good query must count "
    query += 'slowatch_slo_good_events_total{consumer="shop",slo="%s"} (used by SLO shop-%s)'
    assert errors == [
        f"5:36 SLO shop-avail metadata.annotations['slowatch/endpoint']: unknown slowatch annotation (known: {known}"
        "slowatch/threshold)",
        "8:17 SLO shop-avail spec.indicatorRef: no SLI named 'nowhere' in the files",
        "21:32 SLO shop-two spec.objectives[1]: cannot map: a slowatch SLO has one objective (make two SLOs)",
        query % ("two", "two"),
        query % ("cal", "cal"),
        query % ("ratio", "ratio"),
        "40:53 SLO shop-cal spec.timeWindow[0].calendar.startTime: cannot map: slowatch months start at local "
        "midnight on a month's first day",
        "47:1 SLO shop-typo spec.budgetingMethod: required field missing",
        "51:3 SLO shop-typo spec.budgetingMetod: unknown field 'budgetingMetod'",
        "61:20 SLO shop-ratio spec.budgetingMethod: cannot map: slowatch budgets Occurrences or Timeslices",
        "10 error(s): nothing imported",
    ]
