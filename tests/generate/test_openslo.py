"""`slowatch generate openslo`: documents that follow the OpenSLO v1 spec and count slowatch's real series."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from slowatch.cli import main
from slowatch.config import load
from slowatch.generate.openslo import dns_name, generate, queries
from slowatch.generate.openslo_schema import parse_document
from slowatch.slo.engine import Engine
from slowatch.slo.metrics import SloCollector
from tests.slo.helpers import config, result

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "config" / "slowatch.yaml"
RICH = Path(__file__).with_name("rich.yaml")
RFC1123 = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for d in docs:
        assert d["metadata"]["name"] not in out.setdefault(d["kind"], {}), d["metadata"]["name"]
        out[d["kind"]][d["metadata"]["name"]] = d
    return out


@pytest.mark.parametrize("path", [SHIPPED, RICH], ids=["shipped", "rich"])
def test_documents_follow_the_spec_and_their_references_resolve(path: Path) -> None:
    docs = generate(load(path))
    for d in docs:
        parse_document(d)  # the spec's field names, types and ranges (unknown keys are errors)
        assert d["apiVersion"] == "openslo/v1"
        assert RFC1123.fullmatch(d["metadata"]["name"]), d["metadata"]["name"]
    kinds = by_kind(docs)
    for slo in kinds["SLO"].values():
        spec = slo["spec"]
        assert spec["service"] in kinds["Service"]
        assert spec["indicatorRef"] in kinds["SLI"]
        for ref in spec.get("alertPolicies", []):
            policy = kinds["AlertPolicy"][ref["alertPolicyRef"]]
            assert policy["spec"]["conditions"][0]["conditionRef"] in kinds["AlertCondition"]
            for target in policy["spec"]["notificationTargets"]:
                assert target["targetRef"] in kinds["AlertNotificationTarget"]


def test_shipped_config_documents() -> None:
    kinds = by_kind(generate(load(SHIPPED)))
    assert {k: len(v) for k, v in kinds.items()} == {
        "Service": 3, "SLI": 4, "AlertCondition": 16, "AlertPolicy": 16, "SLO": 4, "AlertNotificationTarget": 2,
    }  # fmt: skip
    search = kinds["SLO"]["storefront-search-snappy-search"]["spec"]
    assert search["timeWindow"] == [
        {
            "duration": "1M",
            "calendar": {"startTime": "2024-01-01 00:00:00", "timeZone": "Europe/Berlin"},
            "isRolling": False,
        }
    ]
    assert search["budgetingMethod"] == "Timeslices"
    assert search["objectives"] == [
        {"displayName": "95% good", "target": 0.95, "timeSliceTarget": 0.9, "timeSliceWindow": "1m"}
    ]
    page = kinds["AlertCondition"]["checkout-availability-page-1h-5m"]
    assert page["spec"]["severity"] == "page"
    assert page["spec"]["condition"] == {
        "kind": "burnrate", "op": "gt", "threshold": 14.4, "lookbackWindow": "1h", "alertAfter": "0m",
    }  # fmt: skip
    assert page["metadata"]["annotations"] == {"slowatch/short-window": "5m", "slowatch/budget-percent": "2"}
    # pages go to on-call and the platform feed, tickets to the feed only (the config's routes)
    page_targets = kinds["AlertPolicy"]["checkout-availability-page-1h-5m"]["spec"]["notificationTargets"]
    assert [t["targetRef"] for t in page_targets] == ["oncall-slack", "platform-slack"]
    ticket = kinds["AlertPolicy"]["checkout-availability-ticket-1d-2h"]["spec"]["notificationTargets"]
    assert ticket == [{"targetRef": "platform-slack"}]
    warehouse = kinds["SLO"]["warehouse-ops-availability"]["metadata"]["annotations"]
    assert "weekly-db-patching" in warehouse["slowatch/maintenance"]
    assert "slowatch/maintenance" not in kinds["SLO"]["checkout-availability"]["metadata"]["annotations"]
    sli = kinds["SLI"]["checkout-fast-payments"]["metadata"]["annotations"]
    assert sli == {"slowatch/sli": "latency", "slowatch/endpoints": '["payments-api"]', "slowatch/threshold": "100ms"}


def test_names_are_rfc1123_and_stay_distinct() -> None:
    assert dns_name("checkout", "availability") == "checkout-availability"
    odd = dns_name("Mobile_App", "x")
    assert RFC1123.fullmatch(odd) and odd.startswith("mobile-app-x-")
    assert dns_name("a_b") != dns_name("a.b")  # both lower to a-b: the hash keeps them apart
    long = dns_name("c" * 100, "s" * 100)
    assert len(long) <= 63 and RFC1123.fullmatch(long)


def test_disabled_alerts_and_overrides_are_carried() -> None:
    kinds = by_kind(generate(load(RICH)))
    assert "alertPolicies" not in kinds["SLO"]["no-alerts-avail"]["spec"]
    rolling = next(n for n in kinds["SLO"] if n.startswith("mobile-app-rolling-36h"))
    notes = kinds["SLO"][rolling]["metadata"]["annotations"]
    assert notes["slowatch/no-data-after"] == "30m" and notes["slowatch/exhausted-threshold"] == "-0.25"
    (ref,) = kinds["SLO"][rolling]["spec"]["alertPolicies"]
    condition = kinds["AlertCondition"][ref["alertPolicyRef"]]
    assert condition["spec"]["condition"]["threshold"] == 2.5 and condition["spec"]["severity"] == "info"
    # the quarter's threshold uses the nominal 90-day quarter of slowatch's alerts and rules: 2% of it in 1h
    quarter = next(n for n in kinds["AlertCondition"] if "avail-quarter-page" in n)
    assert kinds["AlertCondition"][quarter]["spec"]["condition"]["threshold"] == round(0.02 * 90 * 24, 6)


def _promtool() -> str:
    found = shutil.which("promtool") or ("/usr/bin/promtool" if os.path.exists("/usr/bin/promtool") else None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is not installed (scripts/dev test installs Debian's prometheus package)")
        pytest.skip("promtool not installed")
    return found


def test_queries_select_the_series_slowatch_exports_and_prometheus_computes_the_ratio(tmp_path: Path) -> None:
    """The SLI queries name the counters (and labels) the real SloCollector exposes; promtool evaluates them."""
    h = 1_789_999_200.0
    engine = Engine(config([{"name": "shop", "endpoints": ["a"], "slos": [{"name": "avail", "sli": "availability",
                                                                             "objective": 99}]}]), h)  # fmt: skip
    for i in range(20):
        engine.observe(result(h + i * 30, ok=i % 4 != 0))
    snapshot = engine.refresh(h + 600)
    registry = CollectorRegistry()
    registry.register(SloCollector(lambda: snapshot))
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for s in family.samples
    }
    good_q, total_q = queries("shop", "avail")
    for query, value in ((good_q, 15.0), (total_q, 20.0)):
        name, labels = re.fullmatch(r"sum\(rate\((\w+)\{(.*)\}\[\{\{\.window\}\}\]\)\)", query).groups()  # type: ignore[union-attr]
        key = (name, tuple(sorted(re.findall(r'(\w+)="([^"]*)"', labels))))
        assert samples[key] == value
    rules = {"groups": [{"name": "g", "rules": [
        {"record": "sli", "expr": f"({good_q}) / ({total_q})".replace("{{.window}}", "5m")}]}]}  # fmt: skip
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules))
    sel = '{consumer="shop",slo="avail"}'
    tests = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": [{
        "interval": "1m",
        "input_series": [
            {"series": f"slowatch_slo_good_events_total{sel}", "values": "0+9x20"},
            {"series": f"slowatch_slo_events_total{sel}", "values": "0+10x20"},
            {"series": 'slowatch_slo_events_total{consumer="other",slo="avail"}', "values": "0+100x20"},
        ],
        "promql_expr_test": [{"expr": "sli", "eval_time": "10m", "exp_samples": [{"labels": "sli", "value": 0.9}]}],
    }]}  # fmt: skip
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests))
    proc = subprocess.run([_promtool(), "test", "rules", "tests.yaml"], cwd=tmp_path, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()


def test_cli_writes_the_documents(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "openslo", "--config", str(SHIPPED)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# OpenSLO v1, generated by `slowatch generate openslo")
    assert len(list(yaml.safe_load_all(out))) == 45
    target = tmp_path / "slos.yaml"
    assert main(["generate", "openslo", "-c", str(SHIPPED), "-o", str(target)]) == 0
    assert target.read_text() == out
    bad = tmp_path / "bad.yaml"
    bad.write_text("endpoints: 3\n")
    assert main(["generate", "openslo", "-c", str(bad)]) == 2
    assert f"{bad}:1:12 endpoints: must be a list" in capsys.readouterr().err
