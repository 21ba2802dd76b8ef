"""`slowatch generate grafana-dashboards`: an overview and a per-consumer dashboard.

Built with grafana-foundation-sdk's builders (schema version of Grafana 11.6). Every query reads
the generated recording rules (`slowatch_slo:*`) or slowatch's own /metrics series; the data source
is a `datasource` variable, so no UID is hard-coded; panels are numbered 1, 2, ... (`id`, which
Grafana links to). `panel_queries` lists every query for tests.
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.builders import prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef, DataTransformerConfig, VariableRefresh
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from slowatch.config.schema import Config
from slowatch.generate.promql import (
    BUDGET_REMAINING,
    BURN_RATE,
    ENDPOINT_UP,
    OBJECTIVE,
    PROBE_SUCCESS,
    SLI,
    WINDOW_SECONDS,
    Aggregation,
)

DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
OVERVIEW_UID = "slowatch-overview"
CONSUMER_UID = "slowatch-consumer"
Panel = timeseries.Panel | stat.Panel | table.Panel


def _query(expr: str, legend: str = "", ref: str = "A", *, instant: bool = False) -> prometheus.Dataquery:
    q = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(DS)
    if legend:
        q = q.legend_format(legend)
    return q.instant() if instant else q.range()


def _series(title: str, unit: str, *queries: prometheus.Dataquery, width: int = 12) -> timeseries.Panel:
    panel = timeseries.Panel().title(title).unit(unit).datasource(DS).height(8).span(width)
    for q in queries:
        panel = panel.with_target(q)
    return panel


def _table(title: str, *queries: prometheus.Dataquery, columns: tuple[str, ...] = (), width: int = 24) -> table.Panel:
    """Instant queries as table frames; several are merged on their labels into one table (a row per series, a
    column per query, named `columns`): Grafana's table shows one frame at a time, the others behind a frame
    picker. Their series must carry the same labels (`_per_slo`) for their rows to merge."""
    panel = table.Panel().title(title).datasource(DS).height(8).span(width)
    for q in queries:
        panel = panel.with_target(q.format(PromQueryFormat.TABLE))
    if len(queries) > 1:
        panel = panel.with_transformation(DataTransformerConfig(id_val="merge", options={}))
        names = {f"Value #{chr(ord('A') + i)}": name for i, name in enumerate(columns)}
        options = {"excludeByName": {"Time": True}, "renameByName": names}
        panel = panel.with_transformation(DataTransformerConfig(id_val="organize", options=options))
    return panel


def _per_slo(expr: str) -> str:
    """One series per consumer SLO with just those labels, so a merged table's queries meet on them (the
    constants have no `job`, the burn rates a `window`)."""
    return f"max by (consumer, slo) ({expr})"


def _stat(title: str, unit: str, query: prometheus.Dataquery, width: int = 6) -> stat.Panel:
    return stat.Panel().title(title).unit(unit).datasource(DS).height(4).span(width).with_target(query)


def _base(uid: str, title: str, time_from: str) -> gd.Dashboard:
    datasource = gd.DatasourceVariable("datasource").label("Data source").type("prometheus")
    return (
        gd.Dashboard(title).uid(uid).tags(["slowatch", "slo"]).time(time_from, "now").refresh("1m")
        .timezone("browser").with_variable(datasource)
    )  # fmt: skip


def _with_panels(board: gd.Dashboard, panels: list[Panel]) -> gd.Dashboard:
    """Panels numbered 1, 2, ... in order: Grafana links to a panel by its id (`viewPanel=3`), and made ids
    up at every load for panels without one."""
    for number, p in enumerate(panels, start=1):
        board = board.with_panel(p.id(number))
    return board


def overview(agg: Aggregation) -> gd.Dashboard:
    by_slo = "{{consumer}} / {{slo}}"
    ep_up = agg.gauge(PROBE_SUCCESS)
    latency = "sum by (endpoint, le) (rate(slowatch_probe_duration_seconds_bucket[$__rate_interval]))"
    panels: list[Panel] = [
        _table("Consumers x SLOs: budget left, SLI, burn rates",
               _query(_per_slo(BUDGET_REMAINING), ref="A", instant=True), _query(_per_slo(SLI), ref="B", instant=True),
               _query(_per_slo(f'{BURN_RATE}{{window="1h"}}'), ref="C", instant=True),
               _query(_per_slo(f'{BURN_RATE}{{window="6h"}}'), ref="D", instant=True),
               columns=("budget left", "SLI", "burn 1h", "burn 6h")),
        _series("Error budget left", "percentunit", _query(BUDGET_REMAINING, by_slo)),
        _series("Burn rate (1h)", "x", _query(f'{BURN_RATE}{{window="1h"}}', by_slo)),
        _table("Firing alerts", _query('ALERTS{alertstate="firing", alertname=~"Slowatch.*"}', instant=True)),
        _stat("Endpoints up", "none", _query(f"sum({ep_up})", instant=True)),
        _stat("Endpoints down", "none", _query(f"count({ep_up} == 0) or vector(0)", instant=True)),
        _stat("Store healthy", "bool", _query("min(slowatch_store_healthy)", instant=True)),
        _stat("Config loaded", "bool", _query("min(slowatch_config_last_reload_successful)", instant=True)),
        _series("Endpoint up", "bool", _query(ep_up, "{{endpoint}}")),
        _series("Probe latency p95", "s", _query(f"histogram_quantile(0.95, {latency})", "{{endpoint}}")),
        _series("Scheduler lag p99", "s", _query(
            "histogram_quantile(0.99, sum without (instance, replica, shard, location) "
            "(rate(slowatch_scheduler_lag_seconds_bucket[$__rate_interval])))", "{{job}}")),
        _series("Store: pending writes", "none", _query("slowatch_store_pending_writes", "{{instance}}")),
    ]  # fmt: skip
    return _with_panels(_base(OVERVIEW_UID, "slowatch · overview", "now-6h"), panels)


def per_consumer() -> gd.Dashboard:
    c = '{consumer="$consumer"}'
    ideal = f"clamp_min(1 - (time() - $__from / 1000) / {WINDOW_SECONDS}{c}, 0)"
    panels: list[Panel] = [
        _series("Error budget burn-down over the SLO window (ideal: a burn rate of 1 from the range start)",
                "percentunit", _query(f"{BUDGET_REMAINING}{c}", "{{slo}}"),
                _query(ideal, "{{slo}} ideal", "B"), width=24),
        _series("Burn rate per window", "x", _query(f"{BURN_RATE}{c}", "{{slo}} {{window}}")),
        _series("Error ratio (5m, 1h)", "percentunit", _query(f"slowatch_slo:sli_error:ratio_rate5m{c}", "{{slo}} 5m"),
                _query(f"slowatch_slo:sli_error:ratio_rate1h{c}", "{{slo}} 1h", "B")),
        _table("SLOs: objective, SLI, budget left", _query(_per_slo(f"{OBJECTIVE}{c}"), ref="A", instant=True),
               _query(_per_slo(f"{SLI}{c}"), ref="B", instant=True),
               _query(_per_slo(f"{BUDGET_REMAINING}{c}"), ref="C", instant=True),
               columns=("objective", "SLI", "budget left")),
        _series("Endpoints it depends on (1 = up)", "bool", _query(f"{ENDPOINT_UP}{c}", "{{slo}}: {{endpoint}}"),
                width=24),
    ]  # fmt: skip
    consumer = (
        gd.QueryVariable("consumer").label("Consumer").datasource(DS)
        .query({"query": f"label_values({OBJECTIVE}, consumer)", "refId": "consumer"})
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
    )  # fmt: skip
    return _with_panels(_base(CONSUMER_UID, "slowatch · consumer", "now-7d").with_variable(consumer), panels)


def _plain(board: gd.Dashboard) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(JSONEncoder(sort_keys=True).encode(board.build()))
    return doc


def dashboards(config: Config, agg: Aggregation | None = None) -> dict[str, dict[str, Any]]:
    """uid -> dashboard JSON (as plain data). The config decides nothing yet but is the source of truth."""
    del config  # every consumer and SLO comes from the recording rules' labels
    agg = agg or Aggregation()
    return {OVERVIEW_UID: _plain(overview(agg)), CONSUMER_UID: _plain(per_consumer())}


def panel_queries(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every panel target of a dashboard document."""
    return [(p["title"], t["expr"]) for p in doc.get("panels", []) for t in p.get("targets", [])]


__all__ = ["CONSUMER_UID", "OVERVIEW_UID", "dashboards", "panel_queries"]
