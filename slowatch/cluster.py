"""What one instance of several sees of the shared config: the endpoints it owns, and what is partial.

`local_view(config)` keeps the endpoints of this instance's shard (`slowatch.sharding.shard_of`) and the
consumer SLOs with at least one of them (a composite SLO is kept when any of its members is, with only
the members kept here: its endpoints are its members'); everything downstream (scheduler, store, SLO engine, alerting,
pages) then works on that config as a complete slowatch for what it owns. A consumer whose endpoints span
shards is *partial* here: its figures cover only the owned endpoints, and the whole picture is the
Prometheus rules' (`slowatch generate prometheus-rules`), which sum the per-SLO counters of every shard.
An unsharded config is returned as is.

A database holds one shard's endpoints. The daemon records which (`STATE_KEY` in the `state` table, at
every start), so that `slowatch report` and `slowatch gate --config` read a shard's database with that
shard's view (`database_view`) even when the instance got its shard from `run --shard I/N` and the
config file says nothing: without it every SLO of the database read "no data".
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field

from slowatch.config.cluster import ClusterConfig
from slowatch.config.composite import Key, member_key
from slowatch.config.consumers import ConsumerConfig, EndpointIndex, SloConfig
from slowatch.config.schema import Config
from slowatch.sharding import shard_of

RULES_POINTER = "the Prometheus rules (slowatch generate prometheus-rules) sum every shard"
STATE_KEY = "cluster"
"""`state` row: `{"shard": i, "shards": n}` of the instance that writes the database."""


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

    @property
    def shard(self) -> int:
        cluster = self.full.server.cluster
        return cluster.shard if cluster is not None and cluster.sharded else 0


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


def stored_shard(conn: sqlite3.Connection) -> tuple[int, int] | None:
    """(shard, shards) recorded in a database by the daemon that writes it; None if not recorded (a database
    of an older slowatch, or one no daemon has run on)."""
    try:
        row = conn.execute("SELECT value FROM state WHERE key = ?", (STATE_KEY,)).fetchone()
        value = json.loads(row[0]) if row is not None else None
        return (int(value["shard"]), int(value["shards"])) if isinstance(value, dict) else None
    except (sqlite3.Error, ValueError, KeyError, TypeError):
        return None


def database_view(config: Config, stored: tuple[int, int] | None) -> tuple[ClusterView, str | None]:
    """The view of `config` for a database written by shard `stored` (`stored_shard`; the config's own when
    None), and a note when the config says another shard."""
    cluster = config.server.cluster
    said = (cluster.shard, cluster.shards) if cluster is not None else (0, 1)
    if stored is None or stored == said:
        return local_view(config), None
    shard, shards = stored
    note = None
    if cluster is not None and cluster.sharded:
        note = (f"the database was written by shard {shard} of {shards}, the config says shard {said[0]} of "
                f"{said[1]}: reading it as shard {shard} of {shards}")  # fmt: skip
    base = cluster or ClusterConfig()
    server = config.server.model_copy(update={"cluster": base.model_copy(update={"shard": shard, "shards": shards})})
    return local_view(config.model_copy(update={"server": server})), note


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


__all__ = ["RULES_POINTER", "STATE_KEY", "ClusterView", "Partial", "database_view", "local_view", "slo_endpoints",
           "stored_shard"]  # fmt: skip
