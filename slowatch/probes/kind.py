"""`ProbeKind`: everything the rest of slowatch needs to know about one kind of probe, in one value.

Each probe module (`probes/http.py`, `probes/grpc.py`, ...) defines its `KIND` and `probes/registry.py`
lists them, one line each. The pool (worker sizing), the web views and alert texts (target descriptions),
/metrics (the kind's extra series) and `slowatch check` ask the registry; nothing else branches on a kind's
name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slowatch.models import Outcome, ProbeResult
from slowatch.redact import Shown

if TYPE_CHECKING:
    from slowatch.probes.context import ProbeContext

ProbeFn = Callable[[Any, "ProbeContext"], Awaitable[ProbeResult]]
"""Takes the endpoint model of its own kind (the registry guarantees the match)."""

TRANSPORT_OUTCOMES = frozenset(
    {Outcome.SUCCESS, Outcome.TIMEOUT, Outcome.CONNECTION_REFUSED, Outcome.CONNECTION_RESET, Outcome.DNS_ERROR,
     Outcome.ERROR}
)  # fmt: skip
"""What any kind that opens a connection can produce."""


@dataclass(frozen=True, slots=True)
class KindGauge:
    """An extra per-endpoint gauge family of a kind: `name{endpoint, <label>=key} value` for each
    (key, value) that `values(result)` returns for the endpoint's last final result (`label` None: one
    series, the value under key "")."""

    name: str
    help: str
    label: str | None
    values: Callable[[ProbeResult], Mapping[str, float]]
    phases: bool = False
    """A timing per phase or step: exported only with `server.metrics.phases: true` (README "Metrics")."""


@dataclass(frozen=True, slots=True)
class ProbeKind:
    name: str
    """The `kind:` value in the config, the `kind` label on /metrics."""
    model: type[Any]
    """The config model (a pydantic model with `kind: Literal[name]`), a member of config.endpoints.Endpoint."""
    probe: ProbeFn
    target: Callable[[Shown], str]
    """What an endpoint points at, for people (API, pages, alerts): built from `Shown`, which shows
    interpolated `${NAME}` values as written and redacts URL credentials and query values."""
    outcomes: frozenset[Outcome]
    """Every outcome the probe can produce (checked by the tests; documented in the README)."""
    weight: Callable[[Any], float] = lambda endpoint: 1.0
    """CPU of one probe relative to a plain HTTP probe (fresh connection): sizes `probe_workers: auto`."""
    gauges: tuple[KindGauge, ...] = ()
    status_code: bool = False
    """Results carry an HTTP status: exported as `slowatch_probe_http_status_code`."""


def phases_of(result: ProbeResult) -> Mapping[str, float]:
    return result.phases


__all__ = ["TRANSPORT_OUTCOMES", "KindGauge", "ProbeFn", "ProbeKind", "phases_of"]
