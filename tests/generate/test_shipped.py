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


def test_every_panel_has_a_unique_id_and_a_place() -> None:
    """Grafana links to a panel by its id (`viewPanel=3`, panel links, library panels); without one it makes
    ids up at every load."""
    for path in sorted((ROOT / "config" / "grafana").glob("*.json")):
        panels = json.loads(path.read_text(encoding="utf-8"))["panels"]
        ids = [p.get("id") for p in panels]
        assert all(isinstance(i, int) and i > 0 for i in ids) and len(set(ids)) == len(ids), (path.name, ids)
        assert all({"h", "w", "x", "y"} <= set(p["gridPos"]) for p in panels), path.name


def test_a_table_of_several_queries_is_one_table() -> None:
    """A Grafana table panel shows one data frame at a time: four instant queries (budget left, SLI, 1h and 6h
    burn) were four frames behind a frame picker, the budget alone on screen. As table frames merged on their
    labels they are one row per consumer SLO with a column per query."""
    for path in sorted((ROOT / "config" / "grafana").glob("*.json")):
        for panel in json.loads(path.read_text(encoding="utf-8"))["panels"]:
            if panel["type"] != "table":
                continue
            assert {t.get("format") for t in panel["targets"]} == {"table"}, (path.name, panel["title"])
            assert all(t.get("instant") for t in panel["targets"]), (path.name, panel["title"])
            if len(panel["targets"]) > 1:
                assert [x["id"] for x in panel["transformations"]] == ["merge", "organize"], (path.name, panel["title"])
