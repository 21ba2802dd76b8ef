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
"""

from __future__ import annotations

from slowatch.generate.alerts import DOWN_ALERT
from slowatch.generate.promql import PROBE_SUCCESS, Aggregation
from slowatch.generate.rules import Rule
from slowatch.metrics.fleet import CONFIG_INFO, SHARDS

SHARD_MISSING_ALERT = "SlowatchShardMissing"
SHARD_COUNT_ALERT = "SlowatchShardCountMismatch"
CONFIG_ALERT = "SlowatchConfigMismatch"
LOCAL_ALERT = "SlowatchLocalFailures"


def _without(labels: tuple[str, ...]) -> str:
    return f"without ({', '.join(labels)})"


def fleet_alerts(agg: Aggregation) -> list[Rule]:
    return [*_instance_alerts(agg), _local_failures(agg)]


def _local_failures(agg: Aggregation) -> Rule:
    down_here = f"{agg.gauge_per_location(PROBE_SUCCESS)} == 0"
    up_elsewhere = f"{agg.gauge(PROBE_SUCCESS)} == 1"
    paged = f'ALERTS{{alertname="{DOWN_ALERT}",alertstate="firing"}}'
    return {
        "alert": LOCAL_ALERT,
        "expr": f"count by (job, {agg.location_label}) (\n  {down_here}\n  and on (endpoint) ({up_elsewhere})\n"
        f"  unless on (endpoint) {paged}\n)",
        "for": "5m",
        "labels": {"severity": "ticket", "kind": "fleet"},
        "annotations": {
            "summary": "slowatch: a location sees endpoints down that other locations see up",
            "description": "Location {{ $labels.location }} sees {{ $value }} endpoint(s) down that another location "
            "sees up, and no page fires for them: the network near that monitor (a local blip, no budget spent "
            "with a location quorum), or a regional problem. Which: `max without (instance, replica, shard) "
            f'({PROBE_SUCCESS}{{location="{{{{ $labels.location }}}}"}}) == 0`.',
        },
    }


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


__all__ = ["CONFIG_ALERT", "LOCAL_ALERT", "SHARD_COUNT_ALERT", "SHARD_MISSING_ALERT", "fleet_alerts"]
