"""The per-endpoint metric families: per-endpoint text chunks, cached until the endpoint's next result.

Each family renders one endpoint's sample lines as one string, straight from its slot with pre-built
label text. A slot keeps the chunks of its last rendering (one per family, the same text for both
exposition formats) and a `dirty` flag that `ProbeMetrics.observe` sets; a scrape re-renders only dirty
slots (`EndpointTable.refresh`) and otherwise joins cached strings. All chunks of one slot come from one
rendering, so an endpoint's lines in a scrape never mix two observations.

`EndpointFamily` is still a prometheus-client `Metric`: the daemon's /metrics (`exposition`) reads its
table's chunks, and any other caller (e.g. `generate_latest(registry)`) gets ordinary `samples`, parsed
from that same text on first access.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from prometheus_client import Histogram
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from slowatch.metrics.slots import OUTCOMES, EndpointSlot
from slowatch.metrics.text import COUNTS, count_text, escape_value, go_float, header

Chunk = Callable[[EndpointSlot], str]
Chunks = tuple[str, ...]
V = TypeVar("V", int, float)
_OUTCOME_VALUES = tuple(escape_value(o.value) for o in OUTCOMES)


@dataclass(frozen=True, slots=True)
class FamilySpec:
    name: str
    help: str
    type: str
    chunk: Chunk

    def header(self, *, openmetrics: bool) -> str:
        return header(self.name, self.help, self.type, openmetrics=openmetrics)


class EndpointTable:
    """What one collect() saw: the family specs and the slots of the endpoints configured at that moment."""

    __slots__ = ("scrape_seconds", "slots", "specs")

    def __init__(self, specs: Sequence[FamilySpec], slots: Sequence[EndpointSlot], scrape_seconds: Histogram) -> None:
        self.specs = tuple(specs)
        self.slots = slots
        self.scrape_seconds = scrape_seconds  # /metrics observes its own duration here

    def refresh(self, start: int, stop: int) -> list[Chunks]:
        """Re-render the dirty slots in [start, stop) and return the chunks of every slot there."""
        chunkers = [spec.chunk for spec in self.specs]
        out: list[Chunks] = []
        for slot in self.slots[start:stop]:
            if slot.dirty:
                slot.dirty = False  # before reading: a result observed meanwhile (another thread) marks it again
                slot.chunks = tuple([chunk(slot) for chunk in chunkers])
            out.append(slot.chunks)
        return out


class EndpointFamily(Metric):
    """One family of a table, rendered on demand."""

    def __init__(self, table: EndpointTable, index: int) -> None:
        self.table = table
        self.index = index
        self._samples: list[Sample] | None = None
        spec = table.specs[index]
        super().__init__(spec.name, spec.help, spec.type)

    @property
    def samples(self) -> list[Sample]:
        if self._samples is None:
            chunks = self.table.refresh(0, len(self.table.slots))
            lines = "".join([c[self.index] for c in chunks])
            text = self.table.specs[self.index].header(openmetrics=False) + lines
            self._samples = [s for family in text_string_to_metric_families(text) for s in family.samples]
        return self._samples

    @samples.setter
    def samples(self, value: list[Sample]) -> None:
        self._samples = value or None  # Metric.__init__ assigns []: stay lazy


def success_chunk(name: str) -> Chunk:
    def chunk(s: EndpointSlot) -> str:
        return "" if s.last_run is None else f"{name}{{{s.base}}} {'1.0' if s.ok else '0.0'}\n"

    return chunk


def failing_chunk(name: str) -> Chunk:
    """`name{labels} 1.0` while the last result failed, nothing otherwise: `success == 0` as a sparse series, with
    the same labels and from the same rendering, so a scrape that has one never lacks the other."""

    def chunk(s: EndpointSlot) -> str:
        return "" if s.last_run is None or s.ok else f"{name}{{{s.base}}} 1.0\n"

    return chunk


def value_chunk(name: str, value: Callable[[EndpointSlot], V | None], text: Callable[[V], str]) -> Chunk:
    """One `name{endpoint labels} value` line when the endpoint's `value` is set."""

    def chunk(s: EndpointSlot) -> str:
        v = value(s)
        return "" if v is None else f"{name}{{{s.ep}}} {text(v)}\n"

    return chunk


def _status_text(code: int) -> str:
    return count_text(code) if code >= 0 else go_float(float(code))


def last_run_chunk(name: str) -> Chunk:
    return value_chunk(name, lambda s: s.last_run, go_float)


def status_chunk(name: str) -> Chunk:
    return value_chunk(name, lambda s: s.status, _status_text)


def cert_chunk(name: str) -> Chunk:
    return value_chunk(name, lambda s: s.cert_expiry, lambda ts: go_float(float(ts)))


def outcome_chunk(name: str) -> Chunk:
    sample = f"{name}_total"

    def chunk(s: EndpointSlot) -> str:
        if s.last_run is None:
            return ""
        before, after = s.outcome
        return "".join([
            f'{sample}{{{before}outcome="{value}"{after}}} {count_text(n)}\n'
            for value, n in zip(_OUTCOME_VALUES, s.outcomes) if n  # noqa: B905 (outcomes stops at the last seen)
        ])  # fmt: skip

    return chunk


def gauge_chunk(name: str, label: str | None) -> Chunk:
    """A kind's extra family (`probes.kind.KindGauge`): one line per label value of the last result."""
    escaped: dict[str, str] = {}

    def quoted(value: str) -> str:
        text = escaped[value] = escape_value(value)
        return text

    def chunk(s: EndpointSlot) -> str:
        values = s.gauges.get(name)
        if not values:
            return ""
        if label is None:
            return f"{name}{{{s.ep}}} {go_float(values[''])}\n"
        before, after = s.splits[label]
        return "".join([
            f'{name}{{{before}{label}="{escaped.get(key) or quoted(key)}"{after}}} {go_float(value)}\n'
            for key, value in list(values.items())
        ])  # fmt: skip

    return chunk


def histogram_chunk(name: str, bounds: Sequence[float]) -> Chunk:
    les = tuple(f'le="{go_float(b)}"' for b in bounds)
    bucket, count, total = f"{name}_bucket", f"{name}_count", f"{name}_sum"
    counts, known = COUNTS, len(COUNTS)

    def chunk(s: EndpointSlot) -> str:
        buckets = s.buckets
        if not any(buckets):
            return ""
        before, after = s.le
        head, tail = f"{bucket}{{{before}", f"{after}}} "
        n = 0  # cumulative; `_count` is the last of them, read in the same pass
        lines = []
        for le, c in zip(les, buckets, strict=True):
            n += c
            lines.append(f"{head}{le}{tail}{counts[n] if n < known else count_text(n)}\n")
        base = s.base
        lines.append(f"{count}{{{base}}} {counts[n] if n < known else count_text(n)}\n")
        lines.append(f"{total}{{{base}}} {go_float(s.duration_sum)}\n")
        return "".join(lines)

    return chunk


__all__ = ["Chunks", "EndpointFamily", "EndpointTable", "FamilySpec"]
