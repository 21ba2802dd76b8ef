"""The generated files committed under config/ are what the generator makes from config/slowatch.yaml."""

from __future__ import annotations

import json
from pathlib import Path

from slowatch.config import load
from slowatch.generate.cli import TARGETS
from slowatch.generate.dashboards import panel_queries

ROOT = Path(__file__).resolve().parents[2]
FIX = "to update: slowatch generate {target} -c config/slowatch.yaml -o {out}"


def test_committed_rules_and_dashboards_are_up_to_date() -> None:
    config = load(ROOT / "config" / "slowatch.yaml", env={})
    for target, out in (("prometheus-rules", "config/prometheus/slowatch-rules.yml"),
                        ("grafana-dashboards", "config/grafana")):  # fmt: skip
        for path, text in TARGETS[target].write(config, "config/slowatch.yaml", out):
            committed = ROOT / path
            assert committed.exists(), FIX.format(target=target, out=out)
            assert committed.read_text(encoding="utf-8") == text, FIX.format(target=target, out=out)


def test_dashboards_use_a_datasource_variable_and_no_fixed_uid() -> None:
    for path in sorted((ROOT / "config" / "grafana").glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert doc["schemaVersion"] >= 39
        assert doc["templating"]["list"][0]["name"] == "datasource"
        uids = {p["datasource"]["uid"] for p in doc["panels"]} | {
            t["datasource"]["uid"] for p in doc["panels"] for t in p["targets"]
        }
        assert uids == {"${datasource}"}
        assert panel_queries(doc)
