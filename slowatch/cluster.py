"""What one instance of several sees of the shared config: the endpoints it owns, and what is partial.

`local_view(config)` keeps the endpoints of this instance's shard (`slowatch.sharding.shard_of`) and the
consumer SLOs with at least one of them (a composite SLO is kept when any of its members is, with only
the members kept here: its endpoints are its members'); everything downstream (scheduler, store, SLO engine, alerting,
pages) then works on that config as a complete slowatch for what it owns. A consumer whose endpoints span
shards is *partial* here: its figures cover only the owned endpoints, and the whole picture is the
Prometheus rules' (`slowatch generate prometheus-rules`), which sum the per-SLO counters of every shard.
An unsharded config is returned as is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from slowatch.config.composite import Key, member_key
from slowatch.config.consumers import ConsumerConfig, EndpointIndex, SloConfig
from slowatch.config.schema import Config
from slowatch.sharding import shard_of

RULES_POINTER = "the Prometheus rules (slowatch generate prometheus-rules) sum every shard"


@dataclass(frozen=True, slots=True)
class Partial:
    """A consumer whose endpoints span shards: how many of them this instance probes."""

    owned: int
    total: int
    shard: int
    shards: int

    def as_json(self) -> dict[str, object]:
        return {
            "owned_endpoints": self.owned,
            "total_endpoints": self.total,
            "shard": self.shard,
            "shards": self.shards,
            "whole_picture": RULES_POINTER,
        }

    @property
    def text(self) -> str:
        return (
            f"partial on this instance: {self.owned} of {self.total} endpoints (shard {self.shard} of "
            f"{self.shards}, 0-based); {RULES_POINTER}"
        )


@dataclass(frozen=True, slots=True)
class ClusterView:
    full: Config
    local: Config
    partial: dict[str, Partial] = field(default_factory=dict)

    @property
    def labels(self) -> tuple[tuple[str, str], ...]:
        cluster = self.full.server.cluster
        return cluster.labels() if cluster is not None else ()

    @property
    def shards(self) -> int:
        cluster = self.full.server.cluster
        return cluster.shards if cluster is not None else 1


def local_view(config: Config) -> ClusterView:
    cluster = config.server.cluster
    if cluster is None or not cluster.sharded:
        return ClusterView(config, config)
    shard, shards = cluster.shard, cluster.shards
    owned = [ep for ep in config.endpoints if shard_of(ep.name, shards) == shard]
    mine = {ep.name for ep in owned}
    index = EndpointIndex(config.endpoints)
    reach = slo_endpoints(config, index)
    consumers: list[ConsumerConfig] = []
    partial: dict[str, Partial] = {}
    for c in config.consumers:
        names = set(index.resolve(c.endpoints))
        slos = []
        for slo in c.slos:
            resolved = reach[(c.name, slo.name)]
            names.update(resolved)
            if mine.intersection(resolved):
                slos.append(_local_composite(c.name, slo, reach, mine))
        if names & mine and not names <= mine:
            partial[c.name] = Partial(len(names & mine), len(names), shard, shards)
        if names & mine:
            same = len(slos) == len(c.slos) and all(a is b for a, b in zip(slos, c.slos, strict=True))
            consumers.append(c if same else c.model_copy(update={"slos": slos}))
    local = config.model_copy(update={"endpoints": owned, "consumers": consumers})
    return ClusterView(config, local, partial)


def slo_endpoints(config: Config, index: EndpointIndex | None = None) -> dict[Key, set[str]]:
    """Every SLO's endpoints; a composite's are its members' (transitively: composites of composites)."""
    index = index or EndpointIndex(config.endpoints)
    slos = {(c.name, s.name): (c, s) for c in config.consumers for s in c.slos}
    out: dict[Key, set[str]] = {}

    def visit(key: Key, seen: frozenset[Key]) -> set[str]:
        if key in out:
            return out[key]
        if key not in slos or key in seen:  # unknown members and cycles are refused by the config checks
            return set()
        c, s = slos[key]
        if s.composite is None:
            refs = s.endpoints if s.endpoints is not None else c.endpoints
            names = set(index.resolve(refs))
        else:
            names = set().union(*(visit(member_key(c.name, m.slo), seen | {key}) for m in s.composite.members))
        out[key] = names
        return names

    for key in slos:
        visit(key, frozenset())
    return out


def _local_composite(consumer: str, slo: SloConfig, reach: dict[Key, set[str]], mine: set[str]) -> SloConfig:
    """A composite kept on a shard (it has a member with an owned endpoint) with only those members: its
    slices are computed from what this instance probes, like any partial SLO."""
    if slo.composite is None:
        return slo
    members = [m for m in slo.composite.members if reach.get(member_key(consumer, m.slo), set()) & mine]
    if len(members) == len(slo.composite.members):
        return slo
    composite = slo.composite.model_copy(update={"members": members})
    return slo.model_copy(update={"composite": composite})


__all__ = ["RULES_POINTER", "ClusterView", "Partial", "local_view", "slo_endpoints"]
