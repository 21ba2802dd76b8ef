"""The OpenSLO v1 documents slowatch writes and reads, as pydantic models (a strict subset of the spec).

Field names are the spec's (github.com/OpenSLO/OpenSLO, README "Specification", apiVersion
`openslo/v1`). Unknown keys are errors, so a typo in a hand-written file is reported rather than
ignored; `metricSource.spec` and `DataSource.connectionDetails` are free-form, as the spec says.
`parse_document` validates one document by its `kind`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

API_VERSION = "openslo/v1"

SHORTHAND = re.compile(r"^([1-9][0-9]*)([mhdwMQY])$")
"""The spec's duration-shorthand: a positive integer and one of m h d w M Q Y (`30d`, `1M`, `1Q`)."""

_NAME_SEGMENT = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")

Shorthand = Annotated[str, Field(pattern=SHORTHAND.pattern)]
Description = Annotated[str, Field(max_length=1050)]


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _annotation_key(key: str) -> str:
    prefix, slash, name = key.rpartition("/")
    if not _NAME_SEGMENT.fullmatch(name) or (slash and (len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix))):
        raise ValueError(f"annotation key {key!r} must be [prefix/]name (prefix a DNS subdomain, name <= 63 chars)")
    return key


class Metadata(Spec):
    name: Annotated[str, Field(min_length=1, max_length=253)]
    displayName: str | None = None
    labels: dict[str, str | list[str]] | None = None
    annotations: dict[str, str] | None = None

    @field_validator("annotations")
    @classmethod
    def _keys(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        for key in v or {}:
            _annotation_key(key)
        return v


class MetricSource(Spec):
    metricSourceRef: str | None = None
    type: str | None = None
    spec: dict[str, Any]


class MetricQuery(Spec):
    metricSource: MetricSource


class RatioMetric(Spec):
    counter: bool | None = None
    good: MetricQuery | None = None
    bad: MetricQuery | None = None
    total: MetricQuery | None = None
    rawType: Literal["success", "failure"] | None = None
    raw: MetricQuery | None = None

    @model_validator(mode="after")
    def _shape(self) -> RatioMetric:
        if self.raw is not None:
            if self.good or self.bad or self.total or self.rawType is None:
                raise ValueError("`raw` needs `rawType` and excludes good, bad and total")
        elif self.total is None or (self.good is None) == (self.bad is None):
            raise ValueError("needs `total` and exactly one of `good`, `bad` (or `raw`)")
        return self


class SliSpec(Spec):
    description: Description | None = None
    thresholdMetric: MetricQuery | None = None
    ratioMetric: RatioMetric | None = None

    @model_validator(mode="after")
    def _one(self) -> SliSpec:
        if (self.thresholdMetric is None) == (self.ratioMetric is None):
            raise ValueError("set exactly one of thresholdMetric, ratioMetric")
        return self


class InlineSli(Spec):
    metadata: Metadata
    spec: SliSpec


class Calendar(Spec):
    startTime: str
    timeZone: str


class TimeWindow(Spec):
    duration: Shorthand
    isRolling: bool | None = None
    calendar: Calendar | None = None


class Objective(Spec):
    displayName: str | None = None
    op: Literal["lte", "gte", "lt", "gt"] | None = None
    value: float | None = None
    target: Annotated[float, Field(ge=0, lt=1)] | None = None
    targetPercent: Annotated[float, Field(ge=0, lt=100)] | None = None
    timeSliceTarget: Annotated[float, Field(gt=0, le=1)] | None = None
    timeSliceWindow: float | Shorthand | None = None
    indicator: InlineSli | None = None
    indicatorRef: str | None = None
    compositeWeight: Annotated[float, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _target(self) -> Objective:
        if (self.target is None) == (self.targetPercent is None):
            raise ValueError("set exactly one of target, targetPercent")
        return self


class BurnRateCondition(Spec):
    kind: Literal["burnrate"] = "burnrate"
    op: Literal["lte", "gte", "lt", "gt"]
    threshold: float
    lookbackWindow: Shorthand
    alertAfter: Shorthand | Literal["0m"] | None = None


class AlertConditionSpec(Spec):
    description: Description | None = None
    severity: Annotated[str, Field(min_length=1)]
    condition: BurnRateCondition


class InlineAlertCondition(Spec):
    kind: Literal["AlertCondition"]
    metadata: Metadata
    spec: AlertConditionSpec


class ConditionRef(Spec):
    conditionRef: str


class TargetRef(Spec):
    targetRef: str


class NotificationTargetSpec(Spec):
    description: Description | None = None
    target: str


class InlineNotificationTarget(Spec):
    kind: Literal["AlertNotificationTarget"]
    metadata: Metadata
    spec: NotificationTargetSpec


class AlertPolicySpec(Spec):
    description: Description | None = None
    alertWhenNoData: bool = False
    alertWhenResolved: bool = False
    alertWhenBreaching: bool = True
    conditions: Annotated[list[ConditionRef | InlineAlertCondition], Field(min_length=1, max_length=1)]
    notificationTargets: list[TargetRef | InlineNotificationTarget]


class InlineAlertPolicy(Spec):
    kind: Literal["AlertPolicy"]
    metadata: Metadata
    spec: AlertPolicySpec


class AlertPolicyRef(Spec):
    alertPolicyRef: str


class SloSpec(Spec):
    description: Description | None = None
    service: str
    indicator: InlineSli | None = None
    indicatorRef: str | None = None
    timeWindow: Annotated[list[TimeWindow], Field(min_length=1, max_length=1)]
    budgetingMethod: Literal["Occurrences", "Timeslices", "RatioTimeslices"]
    objectives: Annotated[list[Objective], Field(min_length=1)]
    alertPolicies: list[AlertPolicyRef | InlineAlertPolicy] = Field(default_factory=list)

    @model_validator(mode="after")
    def _indicator(self) -> SloSpec:
        if (self.indicator is None) == (self.indicatorRef is None):
            raise ValueError("set exactly one of indicator, indicatorRef")
        return self


class ServiceSpec(Spec):
    description: Description | None = None


class DataSourceSpec(Spec):
    description: Description | None = None
    type: str
    connectionDetails: Any = None


class _Document(Spec):
    apiVersion: Literal["openslo/v1"]
    metadata: Metadata


class ServiceDoc(_Document):
    kind: Literal["Service"]
    spec: ServiceSpec = Field(default_factory=ServiceSpec)


class SliDoc(_Document):
    kind: Literal["SLI"]
    spec: SliSpec


class SloDoc(_Document):
    kind: Literal["SLO"]
    spec: SloSpec


class AlertPolicyDoc(_Document):
    kind: Literal["AlertPolicy"]
    spec: AlertPolicySpec


class AlertConditionDoc(_Document):
    kind: Literal["AlertCondition"]
    spec: AlertConditionSpec


class NotificationTargetDoc(_Document):
    kind: Literal["AlertNotificationTarget"]
    spec: NotificationTargetSpec


class DataSourceDoc(_Document):
    kind: Literal["DataSource"]
    spec: DataSourceSpec


AnyDoc = ServiceDoc | SliDoc | SloDoc | AlertPolicyDoc | AlertConditionDoc | NotificationTargetDoc | DataSourceDoc
KINDS: dict[str, type[AnyDoc]] = {
    "Service": ServiceDoc,
    "SLI": SliDoc,
    "SLO": SloDoc,
    "AlertPolicy": AlertPolicyDoc,
    "AlertCondition": AlertConditionDoc,
    "AlertNotificationTarget": NotificationTargetDoc,
    "DataSource": DataSourceDoc,
}


def parse_document(data: Any) -> AnyDoc:
    """One document validated by its `kind`. Raises ValueError (unknown kind) or ValidationError."""
    kind = data.get("kind") if isinstance(data, dict) else None
    model = KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise ValueError(f"`kind` must be one of {', '.join(KINDS)} (got {kind!r})")
    return model.model_validate(data)


__all__ = [
    "API_VERSION",
    "KINDS",
    "SHORTHAND",
    "AlertConditionDoc",
    "AlertPolicyDoc",
    "AlertPolicyRef",
    "AnyDoc",
    "ConditionRef",
    "InlineAlertCondition",
    "InlineAlertPolicy",
    "InlineSli",
    "Metadata",
    "NotificationTargetDoc",
    "Objective",
    "RatioMetric",
    "ServiceDoc",
    "SliDoc",
    "SliSpec",
    "SloDoc",
    "TimeWindow",
    "parse_document",
]
