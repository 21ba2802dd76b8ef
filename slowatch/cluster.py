"""What one instance of several sees of the shared config: the endpoints it owns, and what is partial.

`local_view(config)` keeps the endpoints of this instance's shard (`slowatch.sharding.shard_of`) and the
consumer SLOs with at least one of them; everything downstream (scheduler, store, SLO engine, alerting,
pages) then works on that config as a complete slowatch for what it owns. A consumer whose endpoints span
shards is *partial* here: its figures cover only the owned endpoints, and the whole picture is the
Prometheus rules' (`slowatch generate prometheus-rules`), which sum the per-SLO counters of every shard.
An unsharded config is returned as is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from slowatch.config.consumers import ConsumerConfig, EndpointIndex
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
    consumers: list[ConsumerConfig] = []
    partial: dict[str, Partial] = {}
    for c in config.consumers:
        names = set(index.resolve(c.endpoints))
        slos = []
        for slo in c.slos:
            refs = slo.endpoints if slo.endpoints is not None else c.endpoints
            resolved = index.resolve(refs)
            names.update(resolved)
            if mine.intersection(resolved):
                slos.append(slo)
        if names & mine and not names <= mine:
            partial[c.name] = Partial(len(names & mine), len(names), shard, shards)
        if names & mine:
            consumers.append(c if len(slos) == len(c.slos) else c.model_copy(update={"slos": slos}))
    local = config.model_copy(update={"endpoints": owned, "consumers": consumers})
    return ClusterView(config, local, partial)


__all__ = ["RULES_POINTER", "ClusterView", "Partial", "local_view"]
