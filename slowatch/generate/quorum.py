"""Location quorum in the generated rules: `locations: {quorum: q}` on a consumer SLO or an endpoint's alerts.

Several slowatch instances (`server.cluster.locations`) probe the same endpoints from different places.
Without a quorum their probes add up ("reachability" in Grafana Synthetic Monitoring's terms: every
probe from every location counts). With `quorum: q` slowatch computes a *timeslice* SLI closer to
Grafana's "uptime":

- per location, the SLO's error ratio over a slice (1m, or the SLO's longest probe interval if longer), from the
  counters' difference over the slice (`slice_increase`: right at any scrape interval; a reset counts as
  `increase()` counts it);
- the slice is **failed when at least q locations saw at least one failed probe of the SLO in it**
  (`slowatch_slo:quorum_failed:bool`, 1 or 0, recorded at every rule evaluation);
- the error ratio over a window is the fraction of evaluations whose slice failed
  (`avg_over_time(...[window])`), i.e. the share of time the quorum saw the SLO failing;
- its unit is the slice, so the budget, burn and exhausted alerts wait for the SLO window to hold enough slices
  (`units_needed`: 100 at 99 %), as slowatch's state `ok` waits for units: `slowatch_slo:quorum_slices:window_total`
  counts the failed-slice values in the window times the time between evaluations (at most a slice:
  `slowatch_slo:quorum_evaluated:seconds`, the least of the last hour), in slices. Counting probes instead (the
  other SLOs' guard) let a fresh Prometheus, or one that just loaded the rules, average a handful of slices: a
  2-minute blip paged and exhausted a 99 % budget 12 minutes in, since slowatch's counters carry years of probes.

A location that sends nothing (its instances are down) does not count as failing: with q = 2 of 3 and
one location gone, both others must see failures. An endpoint alert with a quorum fires when at least
q locations see the endpoint down (`slowatch_probe_success` 0 at every replica of that location) for
the usual `failure_threshold` intervals.

Either way the alert stays quiet while any slowatch process judging the endpoint (a replica, a location)
holds its page, as slowatch itself does: `unless on (endpoint) slowatch_endpoint_suppressed` (a silence, a
maintenance window, a dependency's outage: slowatch/alerting/held.py). With a quorum, a hold for a dependency's
outage counts only where q locations hold it: one location's local view of a dependency must not cancel a
page a quorum of locations sees.
"""

from __future__ import annotations

from slowatch.config.endpoints import Endpoint
from slowatch.generate.promql import (
    EVENTS,
    GOOD_EVENTS,
    PROBE_SUCCESS,
    SUPPRESSED,
    Aggregation,
    SloTarget,
    number,
    prom_duration,
    selector,
)

LOCATION_ERROR = "slowatch_slo:location_error:ratio_slice"
QUORUM_FAILED = "slowatch_slo:quorum_failed:bool"
QUORUM_EVALUATED = "slowatch_slo:quorum_evaluated:seconds"
QUORUM_SLICES = "slowatch_slo:quorum_slices:window_total"


def slice_increase(series: str, seconds: float) -> str:
    """What a counter counted in the slice that ends now: its last sample minus its last sample a slice ago. Not
    `increase(series[1m])`, which needs two samples inside the minute: scraped once a minute (Prometheus's default
    scrape interval) it mostly had one, so a quorum SLO had no error ratio and never paged. Consecutive evaluations a
    slice apart see consecutive differences, so every probe counts in one slice whatever the scrape interval.
    A counter that went down was reset (an SLO removed and added back by a reload starts again from 0): as
    `increase()` takes a decrease between two samples, the slice counts the value now, what it counted since the
    reset (clamped to 0 it read as an empty slice, and the location's failures in it were lost). In a series' first
    slice (no sample a slice ago yet) `increase` stands in, which has data there when scraped more often."""
    rng = prom_duration(seconds)
    diff = f"{series} - {series} offset {rng}"
    return f"(({diff} >= 0) or ({diff} < 0) + {series} offset {rng} or increase({series}[{rng}]))"


def quorum_rules(t: SloTarget, agg: Aggregation) -> list[dict[str, object]]:
    """The per-location error ratio over a slice and the failed-slice series of one SLO with a quorum."""
    assert t.quorum is not None
    total = agg.counter_per_location(slice_increase(f"{EVENTS}{t.sel}", t.quorum_slice))
    good = agg.counter_per_location(slice_increase(f"{GOOD_EVENTS}{t.sel}", t.quorum_slice))
    per_location = f"{LOCATION_ERROR}{t.sel}"
    failed = (
        f"(count without (location) ({per_location} > 0) >= bool {t.quorum})\n"
        f"or on (consumer, slo)\n(0 * count without (location) ({per_location}))"
    )
    # Before QUORUM_FAILED in the group (rules run in order): its last sample is still the previous evaluation's.
    since_last = (
        f"clamp_max(time() - timestamp({QUORUM_FAILED}{t.sel}), {number(t.quorum_slice)})\n"
        f"and on (consumer, slo) {per_location}"
    )
    return [
        {"record": LOCATION_ERROR, "expr": f"({total} - {good})\n/\n({total} > 0)", "labels": t.labels},
        {"record": QUORUM_EVALUATED, "expr": since_last, "labels": t.labels},
        {"record": QUORUM_FAILED, "expr": failed, "labels": t.labels},
    ]


def quorum_slices_rule(t: SloTarget) -> dict[str, object]:
    """How many slices the SLO window holds: its failed-slice values times the time between evaluations (the least
    seen in the last hour, at most a slice), in slices. From the failed-slice series' own history, so rules upgraded
    in place trust the history they already recorded."""
    rng = prom_duration(t.window_seconds)
    spacing = f"min by (consumer, slo) (min_over_time({QUORUM_EVALUATED}{t.sel}[1h]))"
    expr = (
        f"count_over_time({QUORUM_FAILED}{t.sel}[{rng}])\n"
        f"* on (consumer, slo) group_left () {spacing}\n/ {number(t.quorum_slice)}"
    )
    return {"record": QUORUM_SLICES, "expr": expr, "labels": t.labels}


def quorum_error_ratio(t: SloTarget, seconds: float) -> str:
    return f"avg_over_time({QUORUM_FAILED}{t.sel}[{prom_duration(seconds)}])"


def endpoint_down_expr(ep: Endpoint, agg: Aggregation) -> str:
    """`SlowatchEndpointDown`'s condition: every process sees it down, or, with a quorum, q locations do; and no
    process holds its page (any replica or location saying so is enough: a silence is one instance's), except
    that with a quorum a dependency hold needs q locations."""
    sel = selector(endpoint=ep.name)
    quorum = ep.alerts.locations
    if quorum is None:
        down = f"{agg.gauge(f'{PROBE_SUCCESS}{sel}')} == 0"
        return f"(\n  {down}\n)\nunless on (endpoint)\n  {SUPPRESSED}{sel}"
    per_location = agg.gauge_per_location(f"{PROBE_SUCCESS}{sel}") + " == 0"
    down = f"count without (location) ({per_location}) >= {quorum.quorum}"
    # A dependency's outage seen from one location is that location's view, like the endpoint's own failures:
    # it holds a quorum page only where q locations hold it (else one location's local blip of the dependency
    # would cancel a page a quorum of locations sees). A silence or a maintenance window holds it anywhere.
    deps = f'{SUPPRESSED}{sel[:-1]},reason="dependency"}}'
    held = (
        f'{SUPPRESSED}{sel[:-1]},reason!="dependency"}}\n'
        f"  or on (endpoint)\n  count by (endpoint) (max by (endpoint, location) ({deps})) >= {quorum.quorum}"
    )
    return f"(\n  {down}\n)\nunless on (endpoint)\n(\n  {held}\n)"


__all__ = [
    "LOCATION_ERROR",
    "QUORUM_EVALUATED",
    "QUORUM_FAILED",
    "QUORUM_SLICES",
    "endpoint_down_expr",
    "quorum_error_ratio",
    "quorum_rules",
    "quorum_slices_rule",
    "slice_increase",
]
