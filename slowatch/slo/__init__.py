"""Per-consumer SLOs and error budgets: ledger -> engine -> Snapshot -> metrics, report."""

from __future__ import annotations

from slowatch.slo.engine import Engine
from slowatch.slo.metrics import SloCollector
from slowatch.slo.service import SloService
from slowatch.slo.snapshot import SloState, SloStatus, Snapshot, WindowStatus

__all__ = ["Engine", "SloCollector", "SloService", "SloState", "SloStatus", "Snapshot", "WindowStatus"]
