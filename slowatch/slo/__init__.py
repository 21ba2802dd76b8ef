"""Per-consumer SLOs and error budgets: ledger -> engine -> Snapshot -> metrics, report.

The names below are resolved on first use (PEP 562), as in `slowatch.config`: importing one submodule
(`slowatch check` needs `slo.judgeable`, `slowatch report` `slo.windows`) must not import the engine, the
service and their store, scheduler and prometheus-client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slowatch.slo.engine import Engine
    from slowatch.slo.metrics import SloCollector
    from slowatch.slo.service import SloService
    from slowatch.slo.snapshot import SloState, SloStatus, Snapshot, WindowStatus

_WHERE = {
    "Engine": "slowatch.slo.engine",
    "SloCollector": "slowatch.slo.metrics",
    "SloService": "slowatch.slo.service",
    **dict.fromkeys(("SloState", "SloStatus", "Snapshot", "WindowStatus"), "slowatch.slo.snapshot"),
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'slowatch.slo' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = ["Engine", "SloCollector", "SloService", "SloState", "SloStatus", "Snapshot", "WindowStatus"]
