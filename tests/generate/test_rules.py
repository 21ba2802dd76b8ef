"""The rules generator without Prometheus: what it derives from the config, and deterministic output."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from slowatch.config import Config, load
from slowatch.generate import openslo
from slowatch.generate.prometheus import render_rules, rule_groups
from slowatch.generate.promql import Aggregation, prom_duration


def rules_of(config: Config, group: str) -> list[dict[str, object]]:
    return next(g["rules"] for g in rule_groups(config)["groups"] if g["name"] == group)


def test_prom_duration_is_exact() -> None:
    assert [prom_duration(s) for s in (0.5, 300, 5400, 90.5, 2592000)] == ["500ms", "5m", "1h30m", "1m30s500ms", "30d"]


def test_burn_alerts_follow_the_slo_policy_with_overrides(rules_config: Config) -> None:
    overridden = [r for r in rules_of(rules_config, "slowatch-slo:shop/avail") if "alert" in r]
    burns = {r["labels"]["severity"]: r["expr"] for r in overridden if r["alert"] == "SlowatchErrorBudgetBurn"}
    assert set(burns) == {"page", "ticket"}
    assert 'window="1h"} > 14.4)' in burns["page"] and 'window="5m"} > 14.4)' in burns["page"]
    assert 'window="6h"' not in burns["page"]  # the override has one page tier only
    assert 'window="1d"} > 3)' in burns["ticket"] and 'window="3d"' not in burns["ticket"]
    quiet = rules_of(rules_config, "slowatch-slo:quiet/avail")
    defaults = [r for r in quiet if r.get("alert") == "SlowatchErrorBudgetBurn"]
    page = next(r["expr"] for r in defaults if r["labels"]["severity"] == "page")
    # 28d window: 2% in 1h -> 13.44, 5% in 6h -> 5.6 (budget% x window / long window, as slowatch computes)
    assert 'window="1h"} > 13.44)' in page and 'window="6h"} > 5.6)' in page
    assert ">= 1000)" in page  # 99.9%: a trustworthy SLI needs 1,000 probes in the window (too_few_events)


def test_every_window_has_an_error_ratio_and_a_burn_rate(rules_config: Config) -> None:
    rules = rules_of(rules_config, "slowatch-slo:shop/fast")
    records = [r["record"] for r in rules if "record" in r]
    ratios = [f"slowatch_slo:sli_error:ratio_rate{w}" for w in ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d")]
    assert records[:8] == ratios
    windows = [r["labels"]["window"] for r in rules if r.get("record") == "slowatch_slo:burn_rate:ratio"]
    assert windows == ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "month"]  # slowatch's own window label
    for r in rules[:8]:
        assert "> 0)" in r["expr"]  # no traffic: no series rather than NaN


def test_endpoint_down_waits_for_the_failure_threshold(rules_config: Config) -> None:
    down = rules_of(rules_config, "slowatch-endpoints")
    assert [(r["labels"]["endpoint"], r.get("for")) for r in down] == [("api", "20s"), ("web.front", "15s")]
    down_expr = 'max without (instance, replica, shard, location) (slowatch_probe_success{endpoint="api"}) == 0'
    held = 'slowatch_endpoint_suppressed{endpoint="api"}'  # any process holding the page keeps it quiet
    assert down[0]["expr"] == f"(\n  {down_expr}\n)\nunless on (endpoint)\n  {held}"


def test_aggregation_is_one_parameter(rules_config: Config) -> None:
    text = render_rules(rules_config, agg=Aggregation(("instance", "replica", "prometheus_replica")))
    assert (
        "sum without (shard, location) (max without (instance, replica, prometheus_replica) "
        "(increase(slowatch_slo_events_total"
    ) in text
    assert "max without (instance, replica) (" not in text


def test_output_is_deterministic_yaml_with_a_header(rules_config: Config) -> None:
    first, second = render_rules(rules_config, "x.yaml"), render_rules(rules_config, "x.yaml")
    assert first == second
    assert first.startswith("# Prometheus recording and alerting rules for slowatch")
    assert "Calendar SLO windows are evaluated as rolling" in first
    assert "&id" not in first  # no YAML anchors
    assert yaml.safe_load(first) == rule_groups(rules_config)


def test_openslo_says_which_composite_slos_it_leaves_out(tmp_path: Path) -> None:
    from tests.generate.test_promtool import JOURNEYS

    (tmp_path / "slowatch.yaml").write_text(JOURNEYS)
    config = load(tmp_path / "slowatch.yaml", env={})
    text = openslo.render(openslo.generate(config), "slowatch.yaml", config)
    assert "# Not exported (OpenSLO v1 has no composite SLOs, OpenSLO #41/#182): shop/journey, shop/path\n" in text
    assert "name: shop-journey" not in text and "name: shop-pay" in text


def test_a_tiny_error_budget_is_kept_exact(tmp_path: Path) -> None:
    """99.99999999999% leaves a 1e-13 budget: the rules divide by it (not by 0) and record the objective as is."""
    config = Config.model_validate({
        "endpoints": [{"name": "api", "kind": "http", "url": "http://127.0.0.1:9/"}],
        "consumers": [{"name": "shop", "endpoints": ["api"], "slos": [
            {"name": "avail", "sli": "availability", "objective": 99.99999999999},
        ]}],
    })  # fmt: skip
    rules = {r.get("record") or r["alert"]: r for g in rule_groups(config)["groups"] for r in g["rules"]}
    assert rules["slowatch_slo:sli:ratio"]["expr"].startswith("1 - ")
    assert rules["slowatch_slo:error_budget_remaining:ratio"]["expr"].split("\n")[0].endswith(" / 1e-13")
    assert rules["slowatch_slo:objective:ratio"]["expr"] == "vector(0.9999999999999)"


def test_tier_factors_are_written_as_the_exact_doubles_slowatch_compares_with(rules_config: Config) -> None:
    """28d: 10% in 3d is 0.9333333333333333; written as 0.933333333333 (12 digits), a burn between the two
    fired the rule but not slowatch."""
    from slowatch.generate.promql import slo_targets

    for t in slo_targets(rules_config):
        exprs = "".join(r["expr"] for r in rules_of(rules_config, f"slowatch-slo:{t.consumer}/{t.name}")
                        if r.get("alert") == "SlowatchErrorBudgetBurn")  # fmt: skip
        written = {float(x) for x in re.findall(r"\} > ([0-9.e+-]+)\)", exprs)}
        assert written == {tier.factor for tier in t.tiers}, (t.consumer, t.name)
