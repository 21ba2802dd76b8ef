"""Prometheus metrics. Everything lives in the CollectorRegistry the daemon passes in (no globals).

  probe.ProbeMetrics        per-endpoint series: plain per-endpoint slots, updated in O(1) per result
  families                  their text, rendered per endpoint and cached until its next result
  exposition                the body: the registry through prometheus-client's encoder + those families
  scrape.Scrape             /metrics: that body streamed, rendered on the event loop in slices, gzipped off-loop
  daemon_metrics.SelfMetrics  the daemon's own health, prometheus-client objects
  text                      label escaping, number formatting, HELP/TYPE headers

The SLO families come from the SLO engine's own Collector, which reads only its immutable Snapshot.
"""

from slowatch.metrics.daemon_metrics import LAG_BUCKETS, WRITE_BUCKETS, SelfMetrics
from slowatch.metrics.exposition import render_metrics, render_response
from slowatch.metrics.probe import ProbeMetrics
from slowatch.metrics.scrape import Scrape
from slowatch.metrics.text import prometheus_label

__all__ = [
    "LAG_BUCKETS",
    "WRITE_BUCKETS",
    "ProbeMetrics",
    "Scrape",
    "SelfMetrics",
    "prometheus_label",
    "render_metrics",
    "render_response",
]
