"""One endpoint's per-endpoint metric state: plain attributes updated on the event loop, read by the renderer.

The label text of every series is built and escaped once, when the slot is made (at start and on reload);
a rendering only pastes it. The slot also keeps its last rendering (`chunks`, one string per family) and a
`dirty` flag, set by every observation and cleared when the slot is rendered again (`families`). /metrics
renders on the event loop, between observations, so a rendering is one consistent snapshot of the slot.
Rendered from another thread (e.g. `render_metrics` in a test), reads are still safe without a lock: each
attribute read is atomic under the GIL, counters only grow, and a histogram's `_count` is the sum of the
bucket counts read in the same pass (only `_sum` can then be one observation ahead or behind).
"""

from __future__ import annotations

from collections.abc import Sequence

from slowatch.metrics.text import label_text, split_at
from slowatch.models import Outcome
from slowatch.probes.kind import KindGauge

OUTCOMES: tuple[Outcome, ...] = tuple(Outcome)
OUTCOME_INDEX: dict[Outcome, int] = {o: i for i, o in enumerate(OUTCOMES)}
_NONE = ("", "")
_NO_SPLITS: dict[str, tuple[str, str]] = {}
_NO_GAUGES: dict[str, dict[str, float]] = {}
_NO_BUCKETS: list[int] = []
assert OUTCOMES[0] is Outcome.SUCCESS  # EndpointSlot.outcomes starts with success's count alone


def count_outcome(outcomes: list[int], index: int) -> None:
    """One more final result with the outcome at `index` (the list grows to reach it)."""
    if index >= len(outcomes):
        outcomes.extend([0] * (index + 1 - len(outcomes)))
    outcomes[index] += 1


class EndpointSlot:
    """Labels (pre-rendered) and last values of one configured endpoint."""

    __slots__ = (
        "base",
        "buckets",
        "cert_expiry",
        "chunks",
        "dirty",
        "duration_sum",
        "ep",
        "extra",
        "gauges",
        "kind",
        "kind_gauges",
        "last_run",
        "le",
        "name",
        "ok",
        "outcome",
        "outcomes",
        "redefined",
        "reports_status",
        "revision",
        "splits",
        "status",
    )

    def __init__(
        self,
        name: str,
        kind: str,
        extra: Sequence[tuple[str, str]],
        buckets: int,
        families: int,
        kind_gauges: tuple[KindGauge, ...] = (),
        reports_status: bool = False,
    ) -> None:
        """`buckets` 0: no histogram (no `le` label text is built: at 100,000 endpoints the slots' strings are a
        large part of the daemon's memory); `kind_gauges`: the kind's extra families that are on."""
        self.name = name
        self.kind = kind
        self.extra = tuple(extra)
        base = [("endpoint", name), ("kind", kind), *extra]
        ep = [("endpoint", name), *extra]
        self.base = label_text(base)  # endpoint, kind, extra labels
        self.ep = label_text(ep)  # endpoint, extra labels
        self.outcome = split_at(base, "outcome")
        le = split_at(base, "le") if buckets else _NONE
        self.le = self.outcome if le == self.outcome else le  # the same strings in the usual case
        splits = {g.label: split_at(ep, g.label) for g in kind_gauges if g.label is not None}
        self.splits = splits or _NO_SPLITS
        self.kind_gauges = kind_gauges  # the kind's extra families (probes/kind.py), from the registry
        self.reports_status = reports_status
        self.ok = False
        self.last_run: float | None = None  # None until the first final result: no series yet
        self.status: int | None = None
        self.cert_expiry: float | None = None
        # family -> label value -> value; an inner dict is replaced (never resized) when a new label value
        # appears, so a rendering from another thread never sees it grow. Slots without such families (and
        # without a histogram: `buckets`) share one empty dict (list) that nothing writes to: ~200 B per endpoint.
        self.gauges: dict[str, dict[str, float]] = {} if kind_gauges else _NO_GAUGES
        self.outcomes = [0]  # final results per outcome, indexed like OUTCOMES, as long as the last outcome seen
        # needs (success is index 0: most endpoints never need more than one entry; `count_outcome`)
        self.buckets = [0] * buckets if buckets else _NO_BUCKETS  # per bucket, not cumulative; the last is +Inf
        self.duration_sum = 0.0
        self.dirty = False  # set by each observation: `chunks` is stale
        self.redefined = False  # set by a reload that edited the endpoint (`ProbeMetrics.set_endpoints`)
        self.revision = 0  # of the endpoint's definition: results of an older one leave the last-result series
        self.chunks: tuple[str, ...] = ("",) * families  # the last rendering: no series before the first result


__all__ = ["OUTCOMES", "OUTCOME_INDEX", "EndpointSlot", "count_outcome"]
