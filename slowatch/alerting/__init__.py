"""Alerting: endpoint down/up and SLO burn-rate, exhausted-budget and no-data alerts, delivered
through a persisted outbox to Slack, webhooks and Alertmanager. See service.AlertService."""

from __future__ import annotations

from slowatch.alerting.events import AlertEvent
from slowatch.alerting.service import AlertService

__all__ = ["AlertEvent", "AlertService"]
