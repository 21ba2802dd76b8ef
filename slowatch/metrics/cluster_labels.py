"""A CollectorRegistry whose every series carries this instance's cluster labels (shard, replica, location).

The daemon uses it only when `server.cluster` sets labels, so a single instance's /metrics is unchanged.
Registry families get the labels added to each sample when collected; the per-endpoint families
(`EndpointFamily`) already carry them in their pre-rendered label text (`ProbeMetrics(const_labels=...)`)
and pass through untouched, so the fast per-endpoint path costs nothing more.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric

from slowatch.metrics.families import EndpointFamily


class LabelledRegistry(CollectorRegistry):
    def __init__(self, labels: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        self.labels = dict(labels)

    def collect(self) -> Iterable[Metric]:
        extra = self.labels
        for metric in super().collect():
            if isinstance(metric, EndpointFamily) or not extra:
                yield metric
                continue
            out = Metric(metric.name, metric.documentation, metric.type, metric.unit)
            out.samples = [s._replace(labels={**s.labels, **extra}) for s in metric.samples]
            yield out


__all__ = ["LabelledRegistry"]
