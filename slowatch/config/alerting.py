"""Alerting config: sinks (where), routes (which alerts go where), policy (when), silences.

sinks:     name -> {kind: slack | webhook | alertmanager, ...}     registry: alerting.sinks.SINKS
routes:    ordered; the first route whose `match` fits an alert wins, unless it says
           `continue: true` (then later routes are tried too), as in Alertmanager
alerting:  burn-rate tiers, resolve delay, exhausted / no-data rules, storm control,
           per-SLO overrides (`alerting.slos`)
silences:  a consumer or endpoint silenced until a time
endpoints[].alerts / defaults.alerts: failure/success thresholds, reminders, send_resolved
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, Field, SecretStr, field_validator, model_validator
from yarl import URL

from slowatch.config.cluster import LocationQuorum
from slowatch.config.messages import Suggester, did_you_mean
from slowatch.config.types import (
    AS_TEXT,
    DAY,
    HOUR,
    MINUTE,
    Delay,
    Headers,
    Model,
    Name,
    Timeout,
    Window,
    control_character,
    duration_between,
)
from slowatch.durations import format_duration

if TYPE_CHECKING:
    from slowatch.config.schema import Config

Severity = Literal["page", "ticket", "info"]
AlertKind = Literal["endpoint_down", "burn_rate", "budget_exhausted", "no_data"]
Problem = tuple[tuple[str | int, ...], str]


Reminder = Annotated[float, duration_between(5 * MINUTE, 30 * DAY), AS_TEXT]
RetryStart = Annotated[float, duration_between(0.0, HOUR, exclusive=True), AS_TEXT]
RetryCap = Annotated[float, duration_between(0.0, DAY, exclusive=True), AS_TEXT]
GIVE_UP_MAX = 30 * DAY
"""The longest `give_up_after`: a notification older than this is given up by any sink."""
GiveUp = Annotated[float, duration_between(0.0, GIVE_UP_MAX, exclusive=True), AS_TEXT]
Every = Annotated[float, duration_between(0.0, HOUR, exclusive=True), AS_TEXT]
"""A period of repeated work (evaluating, resending): more than 0s, at most 1h."""

ExhaustedThreshold = Annotated[float, Field(ge=-100, le=1)]
"""Budget remaining as a ratio (1 = untouched, 0 = spent, below 0 = overspent)."""


DEFAULT_ALERT_WINDOWS: tuple[float, ...] = (300.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0, 259200.0)
"""The windows the SLO engine computes burn rates over: the Workbook's multi-window pairs 5m/1h, 30m/6h,
2h/1d, 6h/3d. Burn tiers may only use these (`check_alerting`); slo.definitions re-exports them."""


class EndpointAlerts(Model):
    """`alerts:` of an endpoint (or of `defaults`): when an endpoint is down, and what to send."""

    enabled: bool = True
    failure_threshold: Annotated[int, Field(ge=1, le=1000)] = 3
    success_threshold: Annotated[int, Field(ge=1, le=1000)] = 2
    reminder_interval: Reminder | None = None
    send_resolved: bool = True
    severity: Severity = "page"
    locations: LocationQuorum | None = None  # evaluated by the generated Prometheus rules (config/cluster.py)


class SinkBase(Model):
    timeout: Timeout = 10.0
    retry_initial: RetryStart = 1.0
    retry_max: RetryCap = 300.0
    give_up_after: GiveUp = 86400.0
    max_pending: Annotated[int, Field(ge=10, le=10_000_000)] = 10_000
    """Undelivered notifications kept for this sink before the oldest resolved ones of alerts it never got
    as firing are dropped (alerting/fold.py). One per alert is kept whatever this says."""


def _http_url(value: SecretStr) -> SecretStr:
    text = value.get_secret_value()
    found = control_character(text)
    if found is not None:
        raise ValueError(f"a URL cannot contain {found}")
    if not text.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")  # never echo the value: it is a secret
    if not _usable(text):  # found at load, not by an alert failing every delivery until give_up_after
        raise ValueError("not a usable http:// or https:// URL (check its host and port)")
    return value


def _usable(text: str) -> bool:
    """What aiohttp needs to send to it: it parses, with a host (IDNA-encodable) and a port in range."""
    try:
        url = URL(text)
        if not url.raw_host or url.port is None or not 0 < url.port < 65536:
            return False
        url.raw_host.encode("idna")  # a label over 63 characters fails here, as it would on every send
    except (ValueError, UnicodeError):
        return False
    return True


HttpUrlSecret = Annotated[SecretStr, AfterValidator(_http_url)]


class SlackSinkConfig(SinkBase):
    kind: Literal["slack"]
    webhook_url: HttpUrlSecret


class WebhookSinkConfig(SinkBase):
    kind: Literal["webhook"]
    url: HttpUrlSecret
    headers: Headers = Field(default_factory=dict)


class AlertmanagerSinkConfig(SinkBase):
    kind: Literal["alertmanager"]
    url: HttpUrlSecret
    headers: Headers = Field(default_factory=dict)
    resend_interval: Every = 60.0
    """Firing alerts are re-POSTed this often so Alertmanager does not resolve them (resolve_timeout)."""


SinkConfig = Annotated[SlackSinkConfig | WebhookSinkConfig | AlertmanagerSinkConfig, Field(discriminator="kind")]


class RouteMatch(Model):
    """Every key given must match; `{}` matches everything. `consumer` matches any consumer of the alert."""

    consumer: Name | None = None
    severity: Severity | None = None
    kind: AlertKind | None = None
    endpoint: Name | None = None
    slo: Name | None = None


class Route(Model):
    match: RouteMatch = Field(default_factory=RouteMatch)
    sinks: list[Name] = Field(min_length=1)
    continue_: bool = Field(default=False, alias="continue")


class BurnTier(Model):
    """Fire when both `long` and `short` burn rates exceed the factor. `factor` is derived from
    `budget_percent` as budget% x SLO window / long window unless given explicitly."""

    severity: Severity
    long: Window
    short: Window
    budget_percent: Annotated[float, Field(gt=0, le=100)] | None = None
    factor: Annotated[float, Field(gt=0, le=100_000)] | None = None

    @model_validator(mode="after")
    def _one(self) -> BurnTier:
        if (self.budget_percent is None) == (self.factor is None):
            raise ValueError("set exactly one of budget_percent, factor")
        if self.short >= self.long:
            raise ValueError("`short` must be shorter than `long`")
        return self


class SloAlertOverride(Model):
    """Per-SLO policy: anything left unset comes from the `alerting:` defaults."""

    consumer: Name
    slo: Name
    enabled: bool = True
    burn_tiers: list[BurnTier] | None = None
    exhausted_threshold: ExhaustedThreshold | None = None
    no_data_after: Window | None = None


class StormControl(Model):
    threshold: Annotated[int, Field(ge=1, le=100_000)] = 10
    window: Annotated[float, duration_between(0.0, DAY, exclusive=True), AS_TEXT] = 60.0
    group_wait: Delay = 1.0
    group_interval: Annotated[float, duration_between(0.0, DAY), AS_TEXT] = 30.0


class AlertingPolicy(Model):
    burn_tiers: list[BurnTier] | None = None
    """None: the Workbook's four tiers (see alerting.policy.DEFAULT_TIERS)."""
    resolve_after: Annotated[float, duration_between(0.0, 7 * DAY), AS_TEXT] = 300.0
    exhausted_threshold: ExhaustedThreshold = 0.0
    exhausted_severity: Severity = "ticket"
    no_data_after: Window = 600.0
    no_data_severity: Severity = "ticket"
    evaluate_interval: Every = 5.0
    storm: StormControl = Field(default_factory=StormControl)
    slos: list[SloAlertOverride] = Field(default_factory=list)


class SilenceConfig(Model):
    """Silence every alert of a consumer (or of an endpoint) until `until`."""

    consumer: Name | None = None
    endpoint: Name | None = None
    until: dt.datetime
    reason: str = ""

    @field_validator("until")
    @classmethod
    def _aware(cls, v: dt.datetime) -> dt.datetime:
        if v.tzinfo is None:
            raise ValueError("must include an offset (e.g. 2026-12-01T10:00:00Z)")
        return v

    @model_validator(mode="after")
    def _one(self) -> SilenceConfig:
        if (self.consumer is None) == (self.endpoint is None):
            raise ValueError("set exactly one of consumer, endpoint")
        return self


def _references(config: Config) -> Iterable[Problem]:
    """Routes, overrides and silences name known sinks, consumers, endpoints and SLOs."""
    consumers = {c.name: {s.name for s in c.slos} for c in config.consumers}
    endpoints = {ep.name for ep in config.endpoints}
    all_slos = sorted({slo for slos in consumers.values() for slo in slos})
    suggest_consumer = Suggester(consumers)
    suggest_endpoint = Suggester(endpoints)
    suggest_sink = Suggester(config.sinks)

    def unknown_consumer(name: str) -> str:
        return f"unknown consumer {name!r}" + suggest_consumer(name)

    def unknown_endpoint(name: str) -> str:
        return f"unknown endpoint {name!r}" + suggest_endpoint(name)

    def no_slo(consumer: str | None, slo: str) -> str:
        if consumer is None:
            return f"no consumer has an SLO named {slo!r}" + did_you_mean(slo, all_slos)
        return f"consumer {consumer!r} has no SLO {slo!r}" + did_you_mean(slo, sorted(consumers[consumer]))

    for ri, route in enumerate(config.routes):
        base: tuple[str | int, ...] = ("routes", ri)
        for si, sink in enumerate(route.sinks):
            if sink not in config.sinks:
                hint = suggest_sink(sink) or f" (known: {', '.join(config.sinks) or 'none'})"
                yield (*base, "sinks", si), f"unknown sink {sink!r}{hint}"
        m = route.match
        if m.consumer is not None and m.consumer not in consumers:
            yield (*base, "match", "consumer"), unknown_consumer(m.consumer)
        elif m.slo is not None and m.slo not in (consumers[m.consumer] if m.consumer is not None else all_slos):
            yield (*base, "match", "slo"), no_slo(m.consumer, m.slo)
        if m.endpoint is not None and m.endpoint not in endpoints:
            yield (*base, "match", "endpoint"), unknown_endpoint(m.endpoint)
    for oi, o in enumerate(config.alerting.slos):
        if o.consumer not in consumers:
            yield ("alerting", "slos", oi, "consumer"), unknown_consumer(o.consumer)
        elif o.slo not in consumers[o.consumer]:
            yield ("alerting", "slos", oi, "slo"), no_slo(o.consumer, o.slo)
    for si, silence in enumerate(config.silences):
        if silence.consumer is not None and silence.consumer not in consumers:
            yield ("silences", si, "consumer"), unknown_consumer(silence.consumer)
        if silence.endpoint is not None and silence.endpoint not in endpoints:
            yield ("silences", si, "endpoint"), unknown_endpoint(silence.endpoint)


def check_alerting(config: Config) -> Iterable[Problem]:
    """References resolve (`_references`); sinks are routed; tiers use computed windows; one override per SLO."""
    yield from _references(config)
    if config.sinks and not config.routes:
        yield ("routes",), "sinks are defined but no route sends anything to them (add `- match: {}`)"
    windows = ", ".join(format_duration(w) for w in DEFAULT_ALERT_WINDOWS)
    tier_lists: list[tuple[tuple[str | int, ...], list[BurnTier] | None]] = [
        (("alerting", "burn_tiers"), config.alerting.burn_tiers)
    ]
    tier_lists += [(("alerting", "slos", i, "burn_tiers"), o.burn_tiers) for i, o in enumerate(config.alerting.slos)]
    for path, tiers in tier_lists:
        for ti, tier in enumerate(tiers or []):
            for key in ("long", "short"):
                if getattr(tier, key) not in DEFAULT_ALERT_WINDOWS:
                    yield (*path, ti, key), f"the SLO engine computes burn rates over {windows} only"
    seen: set[tuple[str, str]] = set()
    for oi, o in enumerate(config.alerting.slos):
        if (o.consumer, o.slo) in seen:
            yield ("alerting", "slos", oi), f"duplicate override for {o.consumer}/{o.slo}"
        seen.add((o.consumer, o.slo))


__all__ = [
    "DEFAULT_ALERT_WINDOWS",
    "AlertKind",
    "AlertingPolicy",
    "AlertmanagerSinkConfig",
    "BurnTier",
    "EndpointAlerts",
    "Route",
    "RouteMatch",
    "SilenceConfig",
    "SinkConfig",
    "SlackSinkConfig",
    "SloAlertOverride",
    "StormControl",
    "WebhookSinkConfig",
    "check_alerting",
]
