"""What one instance says about its place among several, for Prometheus to compare across instances.

There is no slowatch-to-slowatch protocol (DESIGN.md, "Beyond one process"), so a fleet that is set up
inconsistently cannot be caught by the instances themselves; the generated rules catch it from these
two series (`slowatch/generate/fleet.py`):

- `slowatch_cluster_shards`: the shard count this instance runs with (`--shard I/N`, `server.cluster`;
  1 when unsharded). Together with the `shard` label every series carries, Prometheus sees a shard that
  no instance reports (its endpoints unprobed, their down alerts gone, not firing) and instances started
  with different counts (endpoints probed twice or by no one).
- `slowatch_config_info{sha256}`: the SHA-256 of the config file this instance runs, the same figure as
  `sha256sum slowatch.yaml`; it changes at a successful reload only. Two values at once mean the
  instances run different configs (one reloaded, another not, or a file not copied everywhere).

`collect()` reads two callables and does no I/O (prometheus-client calls it on the event loop).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

SHARDS = "slowatch_cluster_shards"
CONFIG_INFO = "slowatch_config_info"


class FleetMetrics(Collector):
    def __init__(self, shards: Callable[[], int], config_sha256: Callable[[], str | None]) -> None:
        self._shards = shards
        self._sha256 = config_sha256

    def collect(self) -> Iterable[Metric]:
        yield GaugeMetricFamily(SHARDS, "Shards this instance's shard is one of (--shard I/N; 1: unsharded)",
                                value=self._shards())  # fmt: skip
        digest = self._sha256()
        if digest is not None:
            info = GaugeMetricFamily(
                CONFIG_INFO, "The running config file's SHA-256 (as sha256sum prints it)", labels=["sha256"]
            )
            info.add_metric([digest], 1.0)
            yield info


__all__ = ["CONFIG_INFO", "SHARDS", "FleetMetrics"]
