"""`server.cluster`: this instance's place among several slowatch processes (shard, replica, location).

Every instance runs the same config file; only `server.cluster` differs (or the `--shard I/N`,
`--replica`, `--location` flags of `slowatch run`, or `${SLOWATCH_LOCATION}` in the file). Shards are
0-based: `shard: 0..shards-1`. The instance owns the endpoints `slowatch.sharding.shard_of` assigns to
its shard; `replica` and `location` only label what it exports. `locations` is the list a `location` must
be one of; without it any label value is taken (the rules add up every location's probes). `locations:
{quorum: q}` on a consumer SLO or an endpoint's `alerts` is evaluated by the generated Prometheus rules
(slowatch/generate/quorum.py) and needs `locations`, whatever this instance's `location`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from slowatch.config.types import Model

if TYPE_CHECKING:
    from slowatch.config.schema import Config

Problem = tuple[tuple[str | int, ...], str]

_LABEL_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}")


def _label_value(value: str) -> str:
    """A value for the `replica` / `location` labels: what every tool on the way (Prometheus, Alertmanager,
    Thanos/Mimir flags, PromQL regexes in the generated rules, file names) takes as is. An empty value
    would mean "no label" to Prometheus."""
    if not _LABEL_VALUE.fullmatch(value):
        raise ValueError(
            f"{value!r} cannot be a Prometheus label value here: use 1-63 ASCII letters, digits, '_', '.', ':' "
            "or '-', starting with a letter or digit"
        )
    return value


LabelValue = Annotated[str, AfterValidator(_label_value)]


class LocationQuorum(Model):
    """`locations: {quorum: q}`: a probe counts as failed only when at least `q` locations saw it fail."""

    quorum: Annotated[int, Field(ge=1, le=64)]


class ClusterConfig(Model):
    shards: Annotated[int, Field(ge=1, le=4096)] = 1
    shard: int = 0
    """0-based: 0 .. shards-1."""
    replica: LabelValue | None = None
    locations: list[LabelValue] = Field(default_factory=list)
    location: LabelValue | None = None

    @field_validator("shard")
    @classmethod
    def _shard(cls, v: int, info: ValidationInfo) -> int:
        shards = info.data.get("shards")
        if shards is not None and not 0 <= v < shards:
            raise ValueError(f"must be 0..{shards - 1} for shards: {shards} (shards are 0-based; got {v})")
        return v

    @field_validator("locations")
    @classmethod
    def _locations(cls, v: list[str]) -> list[str]:
        twice = sorted({x for x in v if v.count(x) > 1})
        if twice:
            raise ValueError(f"listed twice: {', '.join(twice)}")
        return v

    @field_validator("location")
    @classmethod
    def _location(cls, v: str | None, info: ValidationInfo) -> str | None:
        known = info.data.get("locations")
        if v is not None and known and v not in known:
            raise ValueError(f"{v!r} is not one of locations: {', '.join(known)}")
        return v

    @property
    def sharded(self) -> bool:
        return self.shards > 1

    def labels(self) -> tuple[tuple[str, str], ...]:
        """The labels every exported series carries: only those configured, so one plain instance exports
        exactly what it did before clustering existed."""
        out: list[tuple[str, str]] = []
        if self.sharded:
            out.append(("shard", str(self.shard)))
        if self.replica is not None:
            out.append(("replica", self.replica))
        if self.location is not None:
            out.append(("location", self.location))
        return tuple(out)

    def alert_labels(self) -> tuple[tuple[str, str], ...]:
        """The labels this instance adds to the alerts it sends Alertmanager: `shard` (when sharded) and
        `location`, which tell apart alerts about different facts, but never `replica`: HA replicas must
        send identical labels for Alertmanager to deduplicate them."""
        return tuple((k, v) for k, v in self.labels() if k != "replica")

    @property
    def all_locations(self) -> list[str]:
        """`locations`, or just `location` when only that is set."""
        return list(self.locations) or ([self.location] if self.location else [])


def parse_shard(text: str) -> tuple[int, int]:
    """`--shard I/N` (0-based I): the pair, or ValueError with a message for the command line."""
    index, sep, total = text.partition("/")
    index, total = index.strip(), total.strip()
    if not sep or not all(n.isascii() and n.isdigit() for n in (index, total)):  # (`int` reads `٤` as 4)
        raise ValueError(f"--shard must be I/N, e.g. 0/4 (0-based shard I of N; got {text!r})")
    i, n = int(index), int(total)
    if not 1 <= n <= 4096 or not 0 <= i < n:
        raise ValueError(f"--shard {text}: I must be 0..N-1 and N 1..4096 (shards are 0-based)")
    return i, n


def check_cluster(config: Config) -> Iterable[Problem]:
    """Location quorums need `server.cluster.locations` and cannot exceed how many there are (`location` alone is
    not a list of one: a check of the shared file must not depend on the instance it runs on)."""
    cluster = config.server.cluster
    known = len(cluster.locations) if cluster else 0  # not `location` alone: the list is every instance's
    for ci, consumer in enumerate(config.consumers):
        for si, slo in enumerate(consumer.slos):
            yield from _quorum(slo.locations, known, ("consumers", ci, "slos", si, "locations", "quorum"))
    for i, ep in enumerate(config.endpoints):
        yield from _quorum(ep.alerts.locations, known, ("endpoints", i, "alerts", "locations", "quorum"))


def _quorum(q: LocationQuorum | None, known: int, path: tuple[str | int, ...]) -> Iterable[Problem]:
    if q is None:
        return
    if known == 0:
        yield path, "a location quorum needs server.cluster.locations (the locations that probe this config)"
    elif q.quorum > known:
        yield path, f"quorum {q.quorum} is larger than the {known} location(s) in server.cluster.locations"


def replica_sink_warning(config: Config) -> str | None:
    """For `slowatch check`: several replicas (or locations) sending straight to Slack or a webhook each send
    every alert; only Alertmanager (one cluster, every replica sending to every member) deduplicates."""
    cluster = config.server.cluster
    if cluster is None or (cluster.replica is None and len(cluster.all_locations) < 2):
        return None
    direct = sorted(name for name, sink in config.sinks.items() if sink.kind in ("slack", "webhook"))
    routed = {name for route in config.routes for name in route.sinks}
    duplicated = [name for name in direct if name in routed]
    if not duplicated:
        return None
    who = f"replica {cluster.replica!r}" if cluster.replica else "each of several locations"
    return (
        f"warning: server.cluster: {who} sends alerts straight to {', '.join(duplicated)} "
        "(slack/webhook sinks): every replica and location sends each alert, so it arrives several times. "
        "Route alerts to an `alertmanager` sink listing every Alertmanager of one cluster instead "
        "(README: Running more than one slowatch)."
    )


def shard_sink_warnings(config: Config) -> list[Problem]:
    """For `slowatch check` (located at the sink: config/located.py): a sharded config whose routes send alerts to
    Slack or webhook sinks. Each shard sends its own FIRING and RESOLVED for what it owns, so an outage that goes on
    across a reshard is paged twice there (the old owner ends its page, the new one opens another: alerting/service.py
    `_forget_removed`); Alertmanager takes the new owner's as the same alert. Every route can carry endpoint and SLO
    alerts (`match.kind` names one of those)."""
    cluster = config.server.cluster
    if cluster is None or not cluster.sharded:
        return []
    first: dict[str, int] = {}
    for ri, route in enumerate(config.routes):
        for name in route.sinks:
            sink = config.sinks.get(name)
            if sink is not None and sink.kind in ("slack", "webhook"):
                first.setdefault(name, ri)
    out: list[Problem] = []
    for name, ri in first.items():
        kind = config.routes[ri].match.kind
        what = f"{kind} alerts" if kind else "endpoint and SLO alerts"
        out.append((("sinks", name), (
            f"{config.sinks[name].kind} sink routed {what} (routes[{ri}]) on a sharded setup (server.cluster.shards: "
            f"{cluster.shards}): each shard sends its own FIRING and RESOLVED, so an outage that goes on across a "
            "reshard pages twice here (the old owner ends its page, the new owner opens another). For one page per "
            "outage route these alerts to an `alertmanager` sink (README: Resharding)"
        )))  # fmt: skip
    return out


__all__ = [
    "ClusterConfig", "LabelValue", "LocationQuorum", "check_cluster", "parse_shard", "replica_sink_warning",
    "shard_sink_warnings",
]  # fmt: skip
