"""Alerting: endpoint down/up and SLO burn-rate, exhausted-budget and no-data alerts, delivered
through a persisted outbox to Slack, webhooks and Alertmanager. See service.AlertService.

The names below are resolved on first use (PEP 562), as in `slowatch.slo` and `slowatch.config`: `slowatch
check` imports `alerting.policy` and `alerting.events` (through slo.judgeable and slo.display), and must not
import the service and with it aiohttp, prometheus-client and the store.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slowatch.alerting.events import AlertEvent
    from slowatch.alerting.service import AlertService

_WHERE = {"AlertEvent": "slowatch.alerting.events", "AlertService": "slowatch.alerting.service"}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'slowatch.alerting' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = ["AlertEvent", "AlertService"]
