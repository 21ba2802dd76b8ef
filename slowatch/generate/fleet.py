"""Alerts on the slowatch instances themselves: a shard no instance reports, shard counts or configs
that differ between instances (from `slowatch/metrics/fleet.py`'s series).

Without them a fleet fails silently: when every replica of a shard is down, its endpoints'
`slowatch_probe_success` series are absent, not 0, so `SlowatchEndpointDown` cannot fire for them and
their SLO counters drop out of the sums (the budget is computed over the other shards only); instances
started with `--shard 0/2` and `--shard 1/3` probe some endpoints twice (two pages: their alerts carry
different `shard` labels, so Alertmanager keeps both) and others never. Instances are compared per
`location` (each location runs every shard) and per scrape job: scrape every instance in one job, as
the SLO rules already need.

`SlowatchLocalFailures` is the other side of a location quorum: one location that loses its network to the
targets (a local blip) pages no one, by design, but it should not go unseen either. Per location, it counts
the endpoints every replica there sees down while another location sees them up and no page fires for them
(`SlowatchEndpointDown`: with a quorum, q locations agree), and raises a ticket after 5 minutes.

It works through two recording rules that keep only the few series that matter, so no step aggregates the whole
fleet: `slowatch_fleet:probe_success:down` (every `slowatch_probe_success` series that is 0, read from the sparse
`slowatch_probe_failing`, which exists only for those: slowatch/metrics/probe.py) and
`slowatch_fleet:probe_success:up_where_down` (the series that are 1, of endpoints that have a 0 somewhere). The
alert then works on those alone. One `max without (instance, replica, shard)` over every series, then another
over every endpoint, took 5.4 s per evaluation at 600,000 series (benchmarks/README.md, session 14); the first
recording rule read every series too until session 15 (`slowatch_probe_success == 0`). The values are 0 or 1, so
"the highest value in the location is 0" is "a 0 there and no 1 there", and "the highest value anywhere is 1"
is "a 1 somewhere".

`slowatch_probe_failing` is `slowatch_probe_success == 0` with the same labels, in the same scrape: a scrape
that no longer has it (the endpoint recovered) marks it stale at once, as a failed scrape marks both, so the
first rule sees exactly what `== 0` saw. It needs every instance to export it (README "Operations: upgrading"):
an older instance's failures would be missing from the first rule, and so would those behind a
`metric_relabel_configs` that keeps only `slowatch_probe_success`.
"""

from __future__ import annotations

from slowatch.generate.alerts import DOWN_ALERT
from slowatch.generate.promql import PROBE_FAILING, PROBE_SUCCESS, Aggregation
from slowatch.generate.rules import Rule
from slowatch.metrics.fleet import CONFIG_INFO, SHARDS

SHARD_MISSING_ALERT = "SlowatchShardMissing"
SHARD_COUNT_ALERT = "SlowatchShardCountMismatch"
CONFIG_ALERT = "SlowatchConfigMismatch"
LOCAL_ALERT = "SlowatchLocalFailures"
PROBE_DOWN = "slowatch_fleet:probe_success:down"
"""Every `slowatch_probe_success` series that is 0 (value 0), all its labels kept (few: only endpoints failing
somewhere), read from `slowatch_probe_failing` so that no rule but `PROBE_UP_WHERE_DOWN` reads every series."""
PROBE_UP_WHERE_DOWN = "slowatch_fleet:probe_success:up_where_down"
"""The `slowatch_probe_success` series that are 1, of the endpoints in `PROBE_DOWN` (few too)."""


def _without(labels: tuple[str, ...]) -> str:
    return f"without ({', '.join(labels)})"


def fleet_alerts(agg: Aggregation) -> list[Rule]:
    return [*_instance_alerts(agg), *_local_failures(agg)]


def _local_failures(agg: Aggregation) -> list[Rule]:
    copies = (*agg.replica_labels, *agg.split_labels)
    # A location's group: every label but the replica and shard ones (as `agg.gauge_per_location`). Its highest
    # value is 0 when one of its series is 0 and none is 1; the endpoint's highest anywhere is 1 when one is 1.
    down_here = (
        f"max {_without(copies)} ({PROBE_DOWN})\n    unless ignoring ({', '.join(copies)}) {PROBE_UP_WHERE_DOWN}"
    )
    paged = f'ALERTS{{alertname="{DOWN_ALERT}",alertstate="firing"}}'
    return [
        {"record": PROBE_DOWN, "expr": f"{PROBE_FAILING} * 0"},
        {"record": PROBE_UP_WHERE_DOWN, "expr": f"{PROBE_SUCCESS} == 1\nand on (endpoint) {PROBE_DOWN}"},
        {
            "alert": LOCAL_ALERT,
            "expr": f"count by (job, {agg.location_label}) (\n  (\n    {down_here}\n  )\n"
            f"  and on (endpoint) {PROBE_UP_WHERE_DOWN}\n  unless on (endpoint) {paged}\n)",
            "for": "5m",
            "labels": {"severity": "ticket", "kind": "fleet"},
            "annotations": {
                "summary": "slowatch: a location sees endpoints down that other locations see up",
                "description": "Location {{ $labels.location }} sees {{ $value }} endpoint(s) down that another "
                "location sees up, and no page fires for them: the network near that monitor (a local blip, no "
                "budget spent with a location quorum), or a regional problem. Which: `max without (instance, "
                f'replica, shard) ({PROBE_SUCCESS}{{location="{{{{ $labels.location }}}}"}}) == 0`.',
            },
        },
    ]


def _instance_alerts(agg: Aggregation) -> list[Rule]:
    copies = agg.replica_labels  # instance, replica
    every = agg.instance_labels  # ... and shard, location
    shards = agg.split_labels
    present = f"count {_without(shards)} (max {_without(copies)} ({SHARDS}))"
    expected = f"max {_without((*copies, *shards))} ({SHARDS})"
    return [
        {
            "alert": SHARD_MISSING_ALERT,
            "expr": f"{present}\n< {expected}\nor absent({SHARDS})",
            "for": "5m",
            "labels": {"severity": "page", "kind": "fleet"},
            "annotations": {
                "summary": "slowatch: a shard has no running instance",
                "description": "{{ with $labels.location }}Location {{ . }}: {{ end }}{{ $value }} shard(s) report "
                f"(`count by (shard) ({SHARDS})`), fewer than configured, or no slowatch is scraped at all. "
                "The missing shard's endpoints are not probed: their down alerts cannot fire and their SLO "
                "events are missing from the sums.",
            },
        },
        {
            "alert": SHARD_COUNT_ALERT,
            "expr": f"max {_without(every)} ({SHARDS})\n!= min {_without(every)} ({SHARDS})",
            "for": "5m",
            "labels": {"severity": "page", "kind": "fleet"},
            "annotations": {
                "summary": "slowatch instances run with different shard counts",
                "description": f"`{SHARDS}` differs between instances (`--shard I/N` or server.cluster.shards): "
                "some endpoints are probed by two shards (and page twice), others by none. Restart them all "
                "with the same N.",
            },
        },
        {
            "alert": CONFIG_ALERT,
            "expr": f"count without (sha256) (count {_without(every)} ({CONFIG_INFO}))\n> 1",
            "for": "15m",
            "labels": {"severity": "ticket", "kind": "fleet"},
            "annotations": {
                "summary": "slowatch instances run different config files",
                "description": "{{ $value }} different config files are running "
                f"(`count by (sha256, instance) ({CONFIG_INFO})`; the label is what sha256sum prints): an "
                "instance that did not reload, or a file not copied everywhere. Endpoints added or removed in "
                "one of them may be probed by no shard or by two.",
            },
        },
    ]


__all__ = [
    "CONFIG_ALERT",
    "LOCAL_ALERT",
    "PROBE_DOWN",
    "PROBE_UP_WHERE_DOWN",
    "SHARD_COUNT_ALERT",
    "SHARD_MISSING_ALERT",
    "fleet_alerts",
]
