"""The per-endpoint metric families and their fast renderer.

Each family writes its sample lines straight from the endpoint slots with pre-built label text (one
f-string per line) instead of going through prometheus-client's Sample objects and label dicts, which
cost ~50x more at 10,000 endpoints. `EndpointFamily` is still a prometheus-client `Metric`: the
daemon's /metrics (`exposition.render_metrics`) asks it for its text, and any other caller (e.g.
`generate_latest(registry)`) gets ordinary `samples`, parsed from that same text on first access.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import TypeVar

from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from slowatch.metrics.slots import OUTCOMES, EndpointSlot
from slowatch.metrics.text import count_text, escape_value, go_float, header

Lines = Callable[[Sequence[EndpointSlot], list[str]], None]
V = TypeVar("V", int, float)
_OUTCOME_VALUES = tuple(escape_value(o.value) for o in OUTCOMES)


@dataclass(frozen=True, slots=True)
class FamilySpec:
    name: str
    help: str
    type: str
    lines: Lines


class EndpointFamily(Metric):
    """One family over a snapshot of the slots, rendered on demand."""

    def __init__(self, spec: FamilySpec, slots: Sequence[EndpointSlot]) -> None:
        self._spec = spec
        self._slots = slots
        self._samples: list[Sample] | None = None
        super().__init__(spec.name, spec.help, spec.type)

    def text(self, *, openmetrics: bool) -> list[str]:
        """HELP/TYPE and sample lines (no `# EOF`), ready to join."""
        parts = [header(self._spec.name, self._spec.help, self._spec.type, openmetrics=openmetrics)]
        self._spec.lines(self._slots, parts)
        return parts

    @property
    def samples(self) -> list[Sample]:
        if self._samples is None:
            text = "".join(self.text(openmetrics=False))
            self._samples = [s for family in text_string_to_metric_families(text) for s in family.samples]
        return self._samples

    @samples.setter
    def samples(self, value: list[Sample]) -> None:
        self._samples = value or None  # Metric.__init__ assigns []: stay lazy


def success_lines(name: str) -> Lines:
    def lines(slots: Sequence[EndpointSlot], parts: list[str]) -> None:
        parts += [f"{name}{{{s.base}}} {'1.0' if s.ok else '0.0'}\n" for s in slots if s.last_run is not None]

    return lines


def value_lines(name: str, value: Callable[[EndpointSlot], V | None], text: Callable[[V], str]) -> Lines:
    """One `name{endpoint labels} value` line per endpoint whose `value` is set."""

    def lines(slots: Sequence[EndpointSlot], parts: list[str]) -> None:
        for s in slots:
            v = value(s)
            if v is not None:
                parts.append(f"{name}{{{s.ep}}} {text(v)}\n")

    return lines


def _status_text(code: int) -> str:
    return count_text(code) if code >= 0 else go_float(float(code))


def last_run_lines(name: str) -> Lines:
    return value_lines(name, lambda s: s.last_run, go_float)


def status_lines(name: str) -> Lines:
    return value_lines(name, lambda s: s.status, _status_text)


def cert_lines(name: str) -> Lines:
    return value_lines(name, lambda s: s.cert_expiry, lambda ts: go_float(float(ts)))


def outcome_lines(name: str) -> Lines:
    sample = f"{name}_total"

    def lines(slots: Sequence[EndpointSlot], parts: list[str]) -> None:
        for s in slots:
            if s.last_run is None:
                continue
            before, after = s.outcome
            for value, n in zip(_OUTCOME_VALUES, s.outcomes, strict=True):
                if n:
                    parts.append(f'{sample}{{{before}outcome="{value}"{after}}} {count_text(n)}\n')

    return lines


def phase_lines(name: str) -> Lines:
    escaped: dict[str, str] = {}

    def lines(slots: Sequence[EndpointSlot], parts: list[str]) -> None:
        for s in slots:
            if not s.phases:
                continue
            before, after = s.phase
            for phase, seconds in list(s.phases.items()):
                label = escaped.get(phase)
                if label is None:
                    label = escaped[phase] = escape_value(phase)
                parts.append(f'{name}{{{before}phase="{label}"{after}}} {go_float(seconds)}\n')

    return lines


def histogram_lines(name: str, bounds: Sequence[float]) -> Lines:
    les = tuple(f'le="{go_float(b)}"' for b in bounds)
    bucket, count, total = f"{name}_bucket", f"{name}_count", f"{name}_sum"

    def lines(slots: Sequence[EndpointSlot], parts: list[str]) -> None:
        for s in slots:
            cumulative = list(accumulate(s.buckets))
            n = cumulative[-1]
            if not n:
                continue
            before, after = s.le
            head, tail = f"{bucket}{{{before}", f"{after}}} "
            parts += [f"{head}{le}{tail}{count_text(c)}\n" for le, c in zip(les, cumulative, strict=True)]
            parts.append(f"{count}{{{s.base}}} {count_text(n)}\n")
            parts.append(f"{total}{{{s.base}}} {go_float(s.duration_sum)}\n")

    return lines


__all__ = ["EndpointFamily", "FamilySpec"]
