"""/metrics: one exposition from the daemon's registry, the per-endpoint families rendered by slowatch.

The format is negotiated from the Accept header exactly as prometheus-client does it (`choose_encoder`:
text 0.0.4 by default, OpenMetrics 1.0 when asked). Everything in the registry that is not an
`EndpointFamily` (self metrics, SLO and alert collectors: a few hundred lines) goes through the
client's own encoder; the per-endpoint families (~23 series per endpoint) are appended as text, and an
OpenMetrics body keeps exactly one `# EOF`, at the very end. Runs in a worker thread; collectors do no I/O.

`_created` series are not exported: the per-endpoint families never had a use for them (they doubled the
counter and histogram output), and the daemon turns them off for the registry part too
(`prometheus_client.disable_created_metrics()`), so every counter and histogram looks the same.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable

from prometheus_client.core import Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from slowatch.metrics.families import EndpointFamily

_EOF = b"# EOF\n"


class _Collected(Collector):
    def __init__(self, metrics: list[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self._metrics


def render_metrics(registry: Collector, accept: str) -> tuple[bytes, str]:
    """The body and its Content-Type for a scrape with this Accept header."""
    encoder, content_type = choose_encoder(accept)
    openmetrics = content_type.startswith("application/openmetrics-text")
    others: list[Metric] = []
    parts: list[str] = []
    for metric in registry.collect():
        if isinstance(metric, EndpointFamily):
            parts += metric.text(openmetrics=openmetrics)
        else:
            others.append(metric)
    head = encoder(_Collected(others))
    if openmetrics and head.endswith(_EOF):
        head = head[: -len(_EOF)]
    return b"".join((head, "".join(parts).encode(), _EOF if openmetrics else b"")), content_type


def render_response(registry: Collector, accept: str, accept_encoding: str) -> tuple[bytes, dict[str, str]]:
    """`render_metrics`, gzipped when the scraper accepts it (level 1: a fast pass over a large body)."""
    body, content_type = render_metrics(registry, accept)
    headers = {"Content-Type": content_type}
    if "gzip" in accept_encoding.lower():
        body = gzip.compress(body, compresslevel=1)
        headers["Content-Encoding"] = "gzip"
    return body, headers


__all__ = ["render_metrics", "render_response"]
