"""`slowatch generate openslo`: the config's consumers and SLOs as OpenSLO v1 documents.

Per consumer a `Service`; per SLO an `SLI` (a Prometheus ratioMetric over slowatch's own
`slowatch_slo_good_events_total` / `slowatch_slo_events_total` counters, which already leave
maintenance out), an `SLO`, and per burn-rate tier an `AlertCondition` and the `AlertPolicy` that
uses it; then one `AlertNotificationTarget` per sink the routes send those alerts to. What OpenSLO
has no field for goes into annotations under `slowatch/` (see `A_*`), so `slowatch import openslo`
can rebuild the same config from the documents.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import yaml

from slowatch.alerting.book import Router
from slowatch.alerting.events import AlertEvent
from slowatch.alerting.policy import PolicyBook
from slowatch.config.consumers import CalendarWindow, ConsumerConfig, EndpointIndex, EndpointRef, SloConfig
from slowatch.config.maintenance import MaintenanceConfig
from slowatch.config.schema import Config
from slowatch.durations import format_duration
from slowatch.generate.openslo_schema import API_VERSION
from slowatch.slo.windows import NOMINAL_SECONDS

PREFIX = "slowatch/"
A_CONSUMER, A_SLO = PREFIX + "consumer", PREFIX + "slo"
A_ENDPOINTS, A_SLI, A_THRESHOLD = PREFIX + "endpoints", PREFIX + "sli", PREFIX + "threshold"
A_MAINTENANCE, A_NO_DATA_AFTER, A_EXHAUSTED = (
    PREFIX + "maintenance",
    PREFIX + "no-data-after",
    PREFIX + "exhausted-threshold",
)
A_SHORT_WINDOW, A_BUDGET_PERCENT = PREFIX + "short-window", PREFIX + "budget-percent"
A_POLICY = PREFIX + "policy"  # the error-budget policy (deploy gate) as JSON

GOOD_METRIC, TOTAL_METRIC = "slowatch_slo_good_events_total", "slowatch_slo_events_total"

CALENDAR_DURATION = {"week": "1w", "month": "1M", "quarter": "1Q"}
CALENDAR_START = "2024-01-01 00:00:00"
"""A Monday, a month's and a quarter's first day: every slowatch period starts in step with it."""
NOMINAL_PERIOD = NOMINAL_SECONDS
"""Calendar lengths for a tier's threshold in the document: those slowatch's alerts and Prometheus rules use."""


def dns_name(*parts: str) -> str:
    """An RFC 1123 label (what every OpenSLO tool must accept) for slowatch names joined by `-`;
    a hash suffix keeps names unique when lowercasing, replacing or cutting changed them."""
    joined = "-".join(parts)
    label = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", joined.lower())).strip("-")
    if label == joined and len(label) <= 63:
        return label
    digest = hashlib.sha256(joined.encode()).hexdigest()[:8]
    return f"{label[:54].rstrip('-')}-{digest}"


def shorthand(seconds: float) -> str:
    """Whole days or hours in the spec's duration-shorthand (`30d`, `36h`, `5m`)."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    raise ValueError(f"{format_duration(seconds)} is not a whole number of minutes")


def selector(consumer: str, slo: str) -> str:
    def quote(value: str) -> str:
        return json.dumps(value)  # PromQL string escapes are Go's, which JSON's are a subset of

    return f"{{consumer={quote(consumer)},slo={quote(slo)}}}"


def queries(consumer: str, slo: str) -> tuple[str, str]:
    """The good and total PromQL, with Sloth's `{{.window}}` template variable for the range."""
    sel = selector(consumer, slo)
    return (
        f"sum(rate({GOOD_METRIC}{sel}[{{{{.window}}}}]))",
        f"sum(rate({TOTAL_METRIC}{sel}[{{{{.window}}}}]))",
    )


def refs_json(refs: list[EndpointRef]) -> str:
    return json.dumps([r if isinstance(r, str) else {"labels": r.labels} for r in refs], separators=(", ", ": "))


def _doc(kind: str, name: str, spec: dict[str, Any], annotations: dict[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}


def _metric(query: str) -> dict[str, Any]:
    return {"metricSource": {"type": "Prometheus", "spec": {"query": query}}}


class _Writer:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.index = EndpointIndex(config.endpoints)
        self.book = PolicyBook(config)
        self.router = Router(config.routes)
        self.overrides = {(o.consumer, o.slo): o for o in config.alerting.slos}
        self.sinks: dict[str, None] = {}

    def documents(self) -> list[dict[str, Any]]:
        docs: list[dict[str, Any]] = []
        for consumer in self.config.consumers:
            docs.append(self.service(consumer))
            for slo in consumer.slos:
                if slo.composite is None:  # OpenSLO v1 has no composite SLOs (OpenSLO #41, #182): not exported
                    docs.extend(self.slo(consumer, slo))
        for name in self.sinks:
            sink = self.config.sinks[name]
            spec = {
                "description": f"slowatch sink {name!r}; slowatch's routes decide what it gets",
                "target": sink.kind,
            }
            docs.append(_doc("AlertNotificationTarget", dns_name(name), spec))
        return docs

    def service(self, consumer: ConsumerConfig) -> dict[str, Any]:
        spec = {"description": consumer.description} if consumer.description else {}
        notes = {A_CONSUMER: consumer.name, A_ENDPOINTS: refs_json(consumer.endpoints)}
        return _doc("Service", dns_name(consumer.name), spec, notes)

    def maintenance(self, consumer: ConsumerConfig, endpoints: set[str]) -> list[MaintenanceConfig]:
        return [
            m
            for m in self.config.maintenance
            if consumer.name in m.consumers or endpoints & set(self.index.resolve(m.endpoints))
        ]

    def slo(self, consumer: ConsumerConfig, slo: SloConfig) -> list[dict[str, Any]]:
        name = dns_name(consumer.name, slo.name)
        refs = slo.endpoints if slo.endpoints is not None else consumer.endpoints
        good, total = queries(consumer.name, slo.name)
        sli_notes = {A_SLI: slo.sli or "availability", A_ENDPOINTS: refs_json(refs)}
        if slo.threshold is not None:
            sli_notes[A_THRESHOLD] = format_duration(slo.threshold)
        fast = f" within {format_duration(slo.threshold)}" if slo.threshold is not None else ""
        sli_spec = {
            "description": f"probes of {', '.join(self.index.resolve(refs))} that succeeded{fast} / all of "
            "their probes, maintenance windows left out",
            "ratioMetric": {"counter": True, "good": _metric(good), "total": _metric(total)},
        }
        docs = [_doc("SLI", name, sli_spec, sli_notes)]
        objective: dict[str, Any] = {"displayName": f"{slo.objective:g}% good", "target": slo.ratio}
        if slo.slicing is not None:
            objective["timeSliceTarget"] = slo.slicing.good_when
            objective["timeSliceWindow"] = shorthand(slo.slicing.length)
        spec: dict[str, Any] = {"description": slo.description} if slo.description else {}
        spec |= {
            "service": dns_name(consumer.name),
            "indicatorRef": name,
            "timeWindow": [self.window(slo)],
            "budgetingMethod": slo.budgeting.capitalize(),
            "objectives": [objective],
        }
        policies, alert_docs = self.alerts(consumer, slo, name)
        if policies:
            spec["alertPolicies"] = policies
        notes = {A_CONSUMER: consumer.name, A_SLO: slo.name}
        windows = self.maintenance(consumer, set(self.index.resolve(refs)))
        if windows:
            dumped = [m.model_dump(mode="json", exclude_defaults=True) for m in windows]
            notes[A_MAINTENANCE] = json.dumps(dumped, separators=(", ", ": "))
        if slo.policy is not None:
            notes[A_POLICY] = json.dumps(slo.policy.model_dump(mode="json", exclude_defaults=True))
        override = self.overrides.get((consumer.name, slo.name))
        if override is not None and override.no_data_after is not None:
            notes[A_NO_DATA_AFTER] = format_duration(override.no_data_after)
        if override is not None and override.exhausted_threshold is not None:
            notes[A_EXHAUSTED] = repr(override.exhausted_threshold)
        return [*docs, *alert_docs, _doc("SLO", name, spec, notes)]

    @staticmethod
    def window(slo: SloConfig) -> dict[str, Any]:
        w = slo.window
        if isinstance(w, CalendarWindow):
            calendar = {"startTime": CALENDAR_START, "timeZone": w.timezone}
            return {"duration": CALENDAR_DURATION[w.calendar], "calendar": calendar, "isRolling": False}
        return {"duration": shorthand(w), "isRolling": True}

    def alerts(self, consumer: ConsumerConfig, slo: SloConfig, name: str) -> tuple[list[dict[str, str]], list[Any]]:
        policy = self.book.get(consumer.name, slo.name)
        if not policy.enabled:
            return [], []
        w = slo.window
        length = NOMINAL_PERIOD[w.calendar] if isinstance(w, CalendarWindow) else w
        refs: list[dict[str, str]] = []
        docs: list[dict[str, Any]] = []
        for cfg, tier in zip(policy.tiers, policy.tiers_for(length), strict=True):
            tier_name = dns_name(consumer.name, slo.name, tier.severity, shorthand(tier.long), shorthand(tier.short))
            notes = {A_SHORT_WINDOW: shorthand(tier.short)}
            if cfg.budget_percent is not None:
                notes[A_BUDGET_PERCENT] = f"{cfg.budget_percent:g}"
            condition = {
                "description": f"burn rate over {format_duration(tier.long)} and {format_duration(tier.short)} "
                f"above {tier.factor:.4g} (slowatch/short-window is the second window)",
                "severity": tier.severity,
                "condition": {
                    "kind": "burnrate",
                    "op": "gt",
                    "threshold": round(tier.factor, 6),
                    "lookbackWindow": shorthand(tier.long),
                    "alertAfter": "0m",
                },
            }
            docs.append(_doc("AlertCondition", tier_name, condition, notes))
            event = AlertEvent(
                alert_key="", kind="burn_rate", status="firing", severity=tier.severity, since=0.0, ts=0.0,
                title="", summary="", consumers=(consumer.name,), slo=slo.name,
            )  # fmt: skip
            sinks = self.router.sinks_for(event)
            self.sinks.update(dict.fromkeys(sinks))
            spec = {
                "alertWhenBreaching": True,
                "alertWhenResolved": True,
                "alertWhenNoData": False,
                "conditions": [{"conditionRef": tier_name}],
                "notificationTargets": [{"targetRef": dns_name(s)} for s in sinks],
            }
            docs.append(_doc("AlertPolicy", tier_name, spec))
            refs.append({"alertPolicyRef": tier_name})
        return refs, docs


def generate(config: Config) -> list[dict[str, Any]]:
    """The OpenSLO documents for `config`, in config order."""
    return _Writer(config).documents()


def render(docs: list[dict[str, Any]], source: str, config: Config | None = None) -> str:
    """Multi-document YAML with a header naming the config it came from (and the composite SLOs of
    `config` it leaves out: OpenSLO v1 has no composite SLOs)."""
    header = f"# OpenSLO v1, generated by `slowatch generate openslo --config {source}`: edit the config, not this.\n"
    skipped = [f"{c.name}/{s.name}" for c in config.consumers for s in c.slos if s.composite] if config else []
    if skipped:
        header += f"# Not exported (OpenSLO v1 has no composite SLOs, OpenSLO #41/#182): {', '.join(skipped)}\n"
    body = yaml.safe_dump_all(docs, sort_keys=False, explicit_start=True, width=1000, allow_unicode=True)
    return header + body


__all__ = [
    "A_BUDGET_PERCENT",
    "A_CONSUMER",
    "A_ENDPOINTS",
    "A_EXHAUSTED",
    "A_MAINTENANCE",
    "A_NO_DATA_AFTER",
    "A_POLICY",
    "A_SHORT_WINDOW",
    "A_SLI",
    "A_SLO",
    "A_THRESHOLD",
    "GOOD_METRIC",
    "PREFIX",
    "TOTAL_METRIC",
    "dns_name",
    "generate",
    "queries",
    "render",
    "shorthand",
]
