"""/metrics: one exposition from the daemon's registry, as a stream of pieces with points to pause at.

The format is negotiated from the Accept header as prometheus-client does it (`choose_encoder`: text
0.0.4 by default, OpenMetrics 1.0 when asked), but a media range whose `version` is not dotted whole numbers
(`version=x`, `1.x`) is one slowatch does not offer and is passed over: the client compared 'x' with 0 and
raised TypeError, a 500 for the scrape (`negotiate`). Everything in the registry that is not an
`EndpointFamily` (self metrics, SLO and alert collectors: ~10,000 lines at 600 SLOs) is collected from
the client's collectors one family at a time; its HELP/TYPE lines come from the client's own encoder and
its plain sample lines are written here, in slices, byte for byte as that encoder writes them (anything
else, e.g. exemplars or timestamps, goes through the encoder whole). The per-endpoint families (~20
series per endpoint) come last: their dirty slots are re-rendered in slices, then each family is its
header plus the cached chunks of every endpoint. An OpenMetrics body keeps exactly one `# EOF`, at the end.

`pieces` yields bytes and `PAUSE` (None) between bounded pieces of work (~1 ms each at most): the async
`Scrape` (slowatch.metrics.scrape) lets the event loop run there; `render_metrics` joins it all at once.

`_created` series are not exported: the per-endpoint families never had a use for them (they doubled the
counter and histogram output), and the daemon turns them off for the registry part too
(`prometheus_client.disable_created_metrics()`), so every counter and histogram looks the same.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable, Iterable, Iterator, Sequence

from prometheus_client.core import Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.openmetrics.exposition import ALLOWUTF8, UNDERSCORES
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from slowatch.metrics.families import Chunks, EndpointFamily, EndpointTable
from slowatch.metrics.text import escape_value, go_float

Encoder = Callable[[Collector], bytes]
PAUSE = None  # a point where an async consumer may yield to the event loop
REFRESH_SLICE = 100  # endpoints re-rendered between pauses (~1 ms with histograms)
JOIN_SLICE = 2_000  # cached chunks joined into one piece
SAMPLE_SLICE = 500  # plain samples of a registry family written between pauses (~1 ms)
_EOF = b"# EOF\n"
_OM_ONLY = ("_created", "_gsum", "_gcount")  # samples the text encoder moves into families of their own
_LEGACY = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")  # names both encoders print unchanged (no ':', see _escape)
_PLAIN_ESCAPING = (UNDERSCORES, ALLOWUTF8)  # escapings that leave such names unchanged


class _Collected(Collector):
    def __init__(self, metrics: list[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self._metrics


def _numbered(media_range: str) -> bool:
    """Whether a media range of an Accept header names no `version`, or one of dotted whole numbers (the
    first `version=` counts, as in prometheus-client's `_get_version`)."""
    for token in media_range.split(";"):
        key, equals, value = token.strip().partition("=")
        if equals and key == "version":
            return all(part.isascii() and part.isdecimal() for part in value.split(".")) if value else True
    return True


def negotiate(accept: str) -> tuple[Encoder, str]:
    """The encoder and Content-Type for a scrape with this Accept header (see the module docstring)."""
    return choose_encoder(",".join(r for r in accept.split(",") if _numbered(r)))


def is_openmetrics(content_type: str) -> bool:
    return content_type.startswith("application/openmetrics-text")


def _escaping(encoder: Encoder) -> str:
    keywords: dict[str, object] = getattr(encoder, "keywords", {})  # choose_encoder's functools.partial
    return str(keywords.get("escaping", UNDERSCORES))


def _plain(samples: Sequence[Sample], names: dict[str, bool]) -> bool:
    """Every sample plain: legacy metric and label names, a value, no timestamp, exemplar or native histogram."""
    for s in samples:
        if s.timestamp is not None or s.exemplar is not None or s.native_histogram is not None or s.value is None:
            return False
        for name in (s.name, *s.labels):
            ok = names.get(name)
            if ok is None:
                ok = names[name] = _LEGACY.fullmatch(name) is not None
            if not ok:
                return False
    return True


def _plain_lines(samples: Sequence[Sample]) -> bytes:
    """Plain samples' lines exactly as both client encoders write them: sorted labels, escaped values, the
    client's `floatToGoString` text."""
    out: list[str] = []
    for s in samples:
        if s.labels:
            labels = ",".join([f'{k}="{escape_value(v)}"' for k, v in sorted(s.labels.items())])
            out.append(f"{s.name}{{{labels}}} {go_float(float(s.value))}\n")
        else:
            out.append(f"{s.name} {go_float(float(s.value))}\n")
    return "".join(out).encode()


def _encoded(metric: Metric, encoder: Encoder, openmetrics: bool, names: dict[str, bool]) -> Iterator[bytes | None]:
    """One registry family: its HELP/TYPE/UNIT lines from the client's encoder and its sample lines written
    here in slices when they are plain (the client's OpenMetrics encoder costs ~9 µs per sample: 70 ms at
    600 SLOs), else the whole family through the client's encoder."""
    samples = metric.samples
    if (
        _escaping(encoder) in _PLAIN_ESCAPING
        and not any(s.name.endswith(_OM_ONLY) for s in samples)
        and _plain(samples, names)
    ):
        text = encoder(_Collected([Metric(metric.name, metric.documentation, metric.type, metric.unit)]))
        yield text[: -len(_EOF)] if openmetrics and text.endswith(_EOF) else text
        for start in range(0, len(samples), SAMPLE_SLICE):
            yield _plain_lines(samples[start : start + SAMPLE_SLICE])
            yield PAUSE
        return
    text = encoder(_Collected([metric]))
    yield text[: -len(_EOF)] if openmetrics and text.endswith(_EOF) else text
    yield PAUSE


def _table(table: EndpointTable, families: list[EndpointFamily], openmetrics: bool) -> Iterator[bytes | None]:
    """A table's families: refresh its dirty slots in slices, then join the chunks of each family.
    The chunk tuples are taken once, so every family of a scrape shows the same rendering of an endpoint,
    even if an observation or another scrape renders the endpoint again meanwhile."""
    snapshot: list[Chunks] = []
    size = len(table.slots)
    for start in range(0, size, REFRESH_SLICE):
        snapshot += table.refresh(start, start + REFRESH_SLICE)
        yield PAUSE
    for family in families:
        spec, index = table.specs[family.index], family.index
        yield spec.header(openmetrics=openmetrics).encode()
        for start in range(0, size, JOIN_SLICE):
            yield "".join([chunks[index] for chunks in snapshot[start : start + JOIN_SLICE]]).encode()
            yield PAUSE


def pieces(
    registry: Collector, encoder: Encoder, openmetrics: bool, tables: list[EndpointTable]
) -> Iterator[bytes | None]:
    """The whole body in order: registry families as they are collected, then the per-endpoint families,
    then `# EOF` for OpenMetrics. The tables met are appended to `tables` (their scrape histogram)."""
    grouped: dict[int, list[EndpointFamily]] = {}
    names: dict[str, bool] = {}  # metric and label names seen: legacy (plain) or not
    for metric in registry.collect():
        if isinstance(metric, EndpointFamily):
            if id(metric.table) not in grouped:
                tables.append(metric.table)
            grouped.setdefault(id(metric.table), []).append(metric)
        else:
            yield from _encoded(metric, encoder, openmetrics, names)
    for table in tables:
        yield from _table(table, grouped[id(table)], openmetrics)
    if openmetrics:
        yield _EOF


def render_metrics(registry: Collector, accept: str) -> tuple[bytes, str]:
    """The whole body and its Content-Type for a scrape with this Accept header, in one go."""
    encoder, content_type = negotiate(accept)
    parts = pieces(registry, encoder, is_openmetrics(content_type), [])
    return b"".join([p for p in parts if p is not None]), content_type


def render_response(registry: Collector, accept: str, accept_encoding: str) -> tuple[bytes, dict[str, str]]:
    """`render_metrics`, gzipped when the scraper accepts it (level 1: a fast pass over a large body)."""
    body, content_type = render_metrics(registry, accept)
    headers = {"Content-Type": content_type}
    if "gzip" in accept_encoding.lower():
        body = gzip.compress(body, compresslevel=1)
        headers["Content-Encoding"] = "gzip"
    return body, headers


__all__ = ["PAUSE", "is_openmetrics", "negotiate", "pieces", "render_metrics", "render_response"]
