"""Sinks: where notifications go. Add a kind with its module and one line in `SINKS`."""

from __future__ import annotations

from typing import Any

from slowatch.alerting.sinks.alertmanager import AlertmanagerSink
from slowatch.alerting.sinks.base import Attempt, Sink
from slowatch.alerting.sinks.slack import SlackSink
from slowatch.alerting.sinks.webhook import WebhookSink
from slowatch.config.schema import Config

SINKS: dict[str, type[Any]] = {"slack": SlackSink, "webhook": WebhookSink, "alertmanager": AlertmanagerSink}


def build_sinks(config: Config) -> dict[str, Sink]:
    url = config.server.external_url
    cluster = config.server.cluster
    scope = dict(cluster.alert_labels()) if cluster is not None else {}
    sinks: dict[str, Sink] = {name: SINKS[sc.kind](name, sc, url) for name, sc in config.sinks.items()}
    for sink in sinks.values():
        sink.scope = scope
    return sinks


__all__ = ["SINKS", "AlertmanagerSink", "Attempt", "Sink", "SlackSink", "WebhookSink", "build_sinks"]
