"""`slowatch import openslo FILE...`: OpenSLO SLOs over slowatch endpoints -> a `consumers:` block.

It reads what `generate openslo` writes and hand-written documents of the same shape: an SLO whose
SLI is a ratio of slowatch's `slowatch_slo_good_events_total` / `slowatch_slo_events_total` for that
consumer and SLO, with the `slowatch/` annotations naming the SLI kind and the endpoints. Anything
that would change what an SLO measures or when it alerts but has no slowatch equivalent is a located
error (openslo_map); metadata with no home in a slowatch config (display names, labels, other tools'
annotations, notification targets: routing lives in `routes:`) is listed as a note. Nothing is
dropped unsaid. Burn tiers other than the defaults, and SLOs without alert policies, become
`alerting.slos` overrides; `slowatch/maintenance` annotations become `maintenance:` entries.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from slowatch.alerting.policy import DEFAULT_TIERS
from slowatch.config import messages
from slowatch.config.alerting import BurnTier, SloAlertOverride
from slowatch.config.consumers import SloConfig
from slowatch.config.maintenance import MaintenanceConfig
from slowatch.config.yamldoc import Path
from slowatch.durations import format_duration
from slowatch.generate import openslo as gen
from slowatch.generate.openslo_map import Unmappable, check_ratio, objective, policy, tier, window
from slowatch.generate.openslo_read import Problem, Reader, Source
from slowatch.generate.openslo_schema import (
    AlertConditionDoc,
    AlertPolicyDoc,
    AlertPolicyRef,
    ConditionRef,
    InlineAlertPolicy,
    InlineSli,
    Metadata,
    ServiceDoc,
    SliDoc,
    SloDoc,
    TargetRef,
)

_KNOWN = {v for k, v in vars(gen).items() if k.startswith("A_")}
_FIELDS = {"objective": ("spec", "objectives", 0), "window": ("spec", "timeWindow", 0)}


@dataclass(slots=True)
class Imported:
    consumers: dict[str, dict[str, Any]] = field(default_factory=dict)
    maintenance: dict[str, tuple[Source, dict[str, Any]]] = field(default_factory=dict)
    overrides: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)
    slos: int = 0


class Importer:
    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.out = Imported(problems=reader.problems)
        self.slis = reader.named("SLI")
        self.policies = reader.named("AlertPolicy")
        self.conditions = reader.named("AlertCondition")
        self.services = reader.named("Service")
        self.used: set[tuple[str, str]] = set()
        self.targets: set[str] = set()
        self.documented = {(s.model.kind, s.model.metadata.name) for s in reader.sources}

    def run(self) -> Imported:
        for s in self.reader.sources:
            self.metadata(s)
            if isinstance(s.model, ServiceDoc):
                self.consumer(s.model.metadata.name)
            elif isinstance(s.model, SloDoc):
                try:
                    self.slo(s, s.model)
                except Unmappable as exc:
                    self.out.problems.append(exc.problem)
        for s in self.reader.sources:
            kind, name = s.model.kind, s.model.metadata.name
            if kind in ("SLI", "AlertPolicy", "AlertCondition") and (kind, name) not in self.used:
                self.out.notes.append(s.problem((), "not used by any SLO: not imported"))
            elif kind == "AlertNotificationTarget":
                self.out.notes.append(s.problem((), "not imported: slowatch's routes pick the sinks"))
            elif kind == "DataSource":
                self.out.notes.append(s.problem((), "not imported: slowatch's SLIs read its own counters"))
        return self.out

    def metadata(self, s: Source, meta: Metadata | None = None, at: Path = ("metadata",)) -> None:
        """Notes for metadata without a slowatch home; unknown slowatch annotations are errors."""
        meta = meta or s.model.metadata
        if meta.displayName is not None:
            self.out.notes.append(s.problem((*at, "displayName"), "not imported (slowatch uses the name)"))
        if meta.labels:
            self.out.notes.append(s.problem((*at, "labels"), "not imported (slowatch SLOs have no labels)"))
        for key in meta.annotations or {}:
            path = (*at, "annotations", key)
            if key.startswith(gen.PREFIX) and key not in _KNOWN:
                known = ", ".join(sorted(_KNOWN))
                self.out.problems.append(s.problem(path, f"unknown slowatch annotation (known: {known})"))
            elif not key.startswith(gen.PREFIX):
                self.out.notes.append(s.problem(path, "another tool's annotation: not imported"))

    def consumer(self, service: str) -> dict[str, Any]:
        """The consumer of a Service name (from its document when there is one), made on first use."""
        doc = self.services.get(service)
        notes = doc.annotations() if doc else {}
        name = notes.get(gen.A_CONSUMER, service)
        if name not in self.out.consumers:
            entry: dict[str, Any] = {"name": name}
            if doc and isinstance(doc.model, ServiceDoc) and doc.model.spec.description:
                entry["description"] = doc.model.spec.description
            entry["endpoints"] = self.refs(doc, ("metadata", "annotations", gen.A_ENDPOINTS), notes) if doc else None
            entry["slos"] = []
            self.out.consumers[name] = entry
        return self.out.consumers[name]

    @staticmethod
    def refs(s: Source, path: Path, notes: dict[str, str]) -> list[Any] | None:
        text = notes.get(gen.A_ENDPOINTS)
        if text is None:
            return None
        try:
            refs = json.loads(text)
            SloConfig.model_validate({"name": "x", "sli": "availability", "objective": 99, "endpoints": refs})
        except (ValueError, ValidationError):
            raise Unmappable(s, path, 'must be a JSON list of endpoint names and {"labels": {...}} selectors') from None
        assert isinstance(refs, list)
        return refs

    def slo(self, s: Source, model: SloDoc) -> None:
        spec = model.spec
        consumer = self.consumer(spec.service)
        name = s.annotations().get(gen.A_SLO, model.metadata.name.removeprefix(f"{spec.service}-"))
        out: dict[str, Any] = {"name": name}
        if spec.description:
            out["description"] = spec.description
        failed = False

        def attempt(step: Callable[[], dict[str, Any] | None], suffix: str = "") -> None:
            nonlocal failed
            try:
                out.update(step() or {})
            except Unmappable as exc:
                failed = True
                problem = exc.problem
                if suffix and problem.what != s.what:
                    problem = replace(problem, message=f"{problem.message} ({suffix})")
                self.out.problems.append(problem)

        where: dict[str, Path] = {}
        attempt(lambda: self.sli(s, model, consumer, name, where), f"used by {s.what}")
        attempt(lambda: objective(s, model) | {"window": window(s, model)})
        attempt(lambda: policy(s, where))
        if not failed:
            ordered = ("name", "description", "sli", "threshold", "endpoints", "objective", "window", "policy")
            out = {k: out[k] for k in ordered if k in out} | out
            attempt(lambda: self.validate(s, SloConfig, out, where))
        if not failed and any(o["name"] == name for o in consumer["slos"]):
            message = f"a second SLO {name!r} for consumer {consumer['name']!r}"
            attempt(lambda: self.fail(s, ("metadata", "name"), message))
        attempt(lambda: self.alerting(s, model, consumer["name"], name))
        attempt(lambda: self.maintenance(s))
        if not failed:
            consumer["slos"].append(out)
            self.out.slos += 1

    @staticmethod
    def fail(s: Source, path: Path, message: str) -> None:
        raise Unmappable(s, path, message)

    def sli(
        self, s: Source, model: SloDoc, consumer: dict[str, Any], name: str, where: dict[str, Path]
    ) -> dict[str, Any]:
        """`sli`, `threshold` and `endpoints` from the SLO's SLI; `where` learns where they are written."""
        sli_source, sli_path, sli = self.indicator(s, model)
        sli_notes = dict(sli.metadata.annotations or {})
        ann: Path = (*sli_path, "metadata", "annotations")
        where |= {"threshold": (*ann, gen.A_THRESHOLD), "endpoints": (*ann, gen.A_ENDPOINTS)}
        if sli_source is s:  # inline: its metadata is not a document's, so check it here
            self.metadata(s, sli.metadata, ann[:-1])
        kind = sli_notes.get(gen.A_SLI)
        if kind not in ("availability", "latency"):
            message = "cannot map: needs annotation slowatch/sli: availability or latency (what a good probe is)"
            raise Unmappable(sli_source, ann, message)
        check_ratio(sli_source, (*sli_path, "spec", "ratioMetric"), sli, consumer["name"], name)
        out: dict[str, Any] = {"sli": kind}
        if kind == "latency":
            out["threshold"] = sli_notes.get(gen.A_THRESHOLD)
        refs = self.refs(sli_source, (*ann, gen.A_ENDPOINTS), sli_notes)
        if refs is None and consumer["endpoints"] is None:
            message = "cannot map: no annotation slowatch/endpoints names the endpoints it measures"
            raise Unmappable(sli_source, ann, message)
        if consumer["endpoints"] is None:
            consumer["endpoints"] = refs
        if refs is not None and refs != consumer["endpoints"]:
            out["endpoints"] = refs
        return out

    def indicator(self, s: Source, model: SloDoc) -> tuple[Source, Path, InlineSli | SliDoc]:
        spec = model.spec
        if spec.indicator is not None:
            return s, ("spec", "indicator"), spec.indicator
        ref = spec.indicatorRef or ""
        found = self.slis.get(ref)
        if found is None:
            raise Unmappable(s, ("spec", "indicatorRef"), f"no SLI named {ref!r} in the files")
        self.used.add(("SLI", ref))
        assert isinstance(found.model, SliDoc)
        return found, (), found.model

    def validate(self, s: Source, model: type[BaseModel], data: dict[str, Any], where: dict[str, Path]) -> None:
        try:
            model.model_validate(data)
        except ValidationError as exc:
            error = exc.errors(include_url=False)[0]
            key = str(error["loc"][0]) if error["loc"] else ""
            path = where.get(key, _FIELDS.get(key, ()))
            raise Unmappable(s, path, f"cannot map: {key}: {messages.describe(error, None)}") from None

    def alerting(self, s: Source, model: SloDoc, consumer: str, slo: str) -> None:
        override: dict[str, Any] = {"consumer": consumer, "slo": slo}
        tiers = [self.policy_tier(s, ("spec", "alertPolicies", i), p) for i, p in enumerate(model.spec.alertPolicies)]
        if not tiers:
            override["enabled"] = False
        elif tuple(tiers) != DEFAULT_TIERS:
            override["burn_tiers"] = [t.model_dump(mode="json", exclude_none=True) for t in tiers]
        notes = s.annotations()
        ann: Path = ("metadata", "annotations")
        if gen.A_NO_DATA_AFTER in notes:
            override["no_data_after"] = notes[gen.A_NO_DATA_AFTER]
        if gen.A_EXHAUSTED in notes:
            override["exhausted_threshold"] = notes[gen.A_EXHAUSTED]
        where = {"no_data_after": (*ann, gen.A_NO_DATA_AFTER), "exhausted_threshold": (*ann, gen.A_EXHAUSTED)}
        if len(override) > 2:
            self.validate(s, SloAlertOverride, override, where)
            self.out.overrides.append(override)

    def policy_tier(self, s: Source, path: Path, item: AlertPolicyRef | InlineAlertPolicy) -> BurnTier:
        policy: AlertPolicyDoc | InlineAlertPolicy
        if isinstance(item, AlertPolicyRef):
            found = self.policies.get(item.alertPolicyRef)
            if found is None:
                raise Unmappable(
                    s, (*path, "alertPolicyRef"), f"no AlertPolicy named {item.alertPolicyRef!r} in the files"
                )
            self.used.add(("AlertPolicy", item.alertPolicyRef))
            assert isinstance(found.model, AlertPolicyDoc)
            s, path, policy = found, (), found.model
        else:
            policy = item
            self.metadata(s, item.metadata, (*path, "metadata"))
        spec, at = policy.spec, (*path, "spec")
        for flag, want in (("alertWhenBreaching", True), ("alertWhenResolved", True), ("alertWhenNoData", False)):
            if getattr(spec, flag) is not want:
                message = f"cannot map: slowatch burn-rate alerts have {flag}: {str(want).lower()}"
                if flag == "alertWhenNoData":
                    message += " (no-data alerts come from alerting.no_data_after)"
                raise Unmappable(s, (*at, flag), message)
        for i, target in enumerate(spec.notificationTargets):
            name = target.targetRef if isinstance(target, TargetRef) else target.metadata.name
            if name not in self.targets and ("AlertNotificationTarget", name) not in self.documented:
                self.targets.add(name)
                message = f"notification target {name!r} not imported: slowatch's routes pick the sinks"
                self.out.notes.append(s.problem((*at, "notificationTargets", i), message))
        condition = spec.conditions[0]
        if isinstance(condition, ConditionRef):
            found = self.conditions.get(condition.conditionRef)
            if found is None:
                message = f"no AlertCondition named {condition.conditionRef!r} in the files"
                raise Unmappable(s, (*at, "conditions", 0, "conditionRef"), message)
            self.used.add(("AlertCondition", condition.conditionRef))
            assert isinstance(found.model, AlertConditionDoc)
            return tier(found, (), found.model)
        self.metadata(s, condition.metadata, (*at, "conditions", 0, "metadata"))
        return tier(s, (*at, "conditions", 0), condition)

    def maintenance(self, s: Source) -> None:
        text = s.annotations().get(gen.A_MAINTENANCE)
        if text is None:
            return
        path: Path = ("metadata", "annotations", gen.A_MAINTENANCE)
        try:
            windows = json.loads(text)
            if not isinstance(windows, list):
                raise ValueError("not a list")
            models = [MaintenanceConfig.model_validate(w) for w in windows]
        except (ValueError, ValidationError) as exc:
            detail = (
                messages.describe(exc.errors(include_url=False)[0], None) if isinstance(exc, ValidationError) else ""
            )
            raise Unmappable(s, path, f"must be a JSON list of slowatch maintenance windows {detail}".strip()) from None
        for data, m in zip(windows, models, strict=True):
            seen = self.out.maintenance.get(m.name)
            if seen is not None and MaintenanceConfig.model_validate(seen[1]) != m:
                first = seen[0].problem((), "").key
                message = f"maintenance window {m.name!r} differs from the one in {first[0]}:{first[1]}"
                raise Unmappable(s, path, message)
            self.out.maintenance.setdefault(m.name, (s, data))


def import_files(paths: list[str]) -> Imported:
    """Read and map every file; `problems` lists what could not be mapped."""
    reader = Reader()
    for path in paths:
        reader.read(path)
    return Importer(reader).run()


def render(result: Imported, paths: list[str]) -> str:
    """The slowatch config blocks, as YAML to paste into a config that defines those endpoints."""
    blocks: dict[str, Any] = {
        "consumers": [{k: v for k, v in c.items() if v is not None} for c in result.consumers.values()]
    }
    for consumer in blocks["consumers"]:
        consumer.setdefault("endpoints", [])
        for slo in consumer["slos"]:
            _durations(slo)
    if result.maintenance:
        blocks["maintenance"] = [data for _, data in result.maintenance.values()]
    if result.overrides:
        blocks["alerting"] = {"slos": result.overrides}
    header = [
        f"# slowatch import openslo {' '.join(paths)}: {result.slos} SLO(s) of {len(result.consumers)} consumer(s).",
        "# Paste into a config that defines these endpoints"
        + ("; merge alerting.slos into its alerting block." if result.overrides else "."),
    ]
    return "\n".join(header) + "\n" + yaml.safe_dump(blocks, sort_keys=False, width=1000, allow_unicode=True)


def _durations(slo: dict[str, Any]) -> None:
    if isinstance(slo.get("window"), float):
        slo["window"] = format_duration(slo["window"])
    if "timeslice" in slo:
        slo["timeslice"] = {**slo["timeslice"], "length": format_duration(slo["timeslice"]["length"])}


__all__ = ["Imported", "Importer", "import_files", "render"]
