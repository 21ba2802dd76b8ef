"""Command-line pieces for running several slowatch processes: `run --shard/--replica/--location`, `shard`.

`cli.py` prints what these return; nothing here prints.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from slowatch.errors import ConfigError, ConfigProblem

if TYPE_CHECKING:  # imported where used: `slowatch --help` builds the parser without the Config tree
    from pydantic import ValidationError

    from slowatch.config.schema import Config
    from slowatch.config.yamldoc import Document


def add_cluster_arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--shard",
        metavar="I/N",
        help="probe only shard I of N (0-based: 0/4 .. 3/4); overrides server.cluster.shard/shards",
    )
    run.add_argument("--replica", help="this instance's replica label (e.g. a, b); overrides server.cluster.replica")
    run.add_argument(
        "--location",
        help="this instance's location label; overrides server.cluster.location (checked against "
        "server.cluster.locations when listed; a quorum needs that list)",
    )


def apply_cluster_flags(config: Config, args: argparse.Namespace) -> Config:
    """`config` with the command line's cluster flags; ValueError with a message naming the flag when bad."""
    from pydantic import ValidationError

    from slowatch.config.cluster import ClusterConfig, parse_shard

    changes: dict[str, object] = {}
    if args.shard:
        changes["shard"], changes["shards"] = parse_shard(args.shard)
    if args.replica is not None:
        changes["replica"] = args.replica
    if args.location is not None:
        changes["location"] = args.location
    if not changes:
        return config
    current = config.server.cluster.model_dump() if config.server.cluster else {}
    try:
        cluster = ClusterConfig.model_validate({**current, **changes})
    except ValidationError as exc:
        raise FlagConflict(exc, set(changes)) from None
    return config.model_copy(update={"server": config.server.model_copy(update={"cluster": cluster})})


_FLAG = {"shard": "--shard", "shards": "--shard", "replica": "--replica", "location": "--location"}


class FlagConflict(ValueError):
    """The cluster flags do not fit the config: `problems` are (field of server.cluster, message)."""

    def __init__(self, exc: ValidationError, flagged: set[str]) -> None:
        self.problems: list[tuple[str, str]] = []
        for e in exc.errors(include_url=False):
            field = str(e["loc"][0]) if e["loc"] else ""
            message = e["msg"].removeprefix("Value error, ")
            if field in flagged:  # the flag's value, not the file's, is what the message quotes
                message = message.replace(repr(str(e.get("input"))), f"{e.get('input')!r} (from {_FLAG[field]})", 1)
            self.problems.append((field, message))
        text = "; ".join(f"server.cluster.{field}: {message}" for field, message in self.problems)
        super().__init__(f"--shard/--replica/--location: {text}")

    def located(self, path: str | Path) -> ConfigError:
        """As a reload reports it: each problem at server.cluster.<field> in the file (the field itself when
        written there, else the nearest of server.cluster, server)."""
        from slowatch.config.source import read_config_bytes
        from slowatch.config.yamlnodes import YamlProblem, parse

        try:
            doc: Document | None = parse(read_config_bytes(path).decode("utf-8-sig"), os.environ)
        except (ConfigError, YamlProblem, ValueError):  # (the file changed again since: no place, still the problem)
            doc = None
        problems = []
        for field, message in self.problems:
            where = None
            for keys in (("server", "cluster", field), ("server", "cluster"), ("server",)):
                where = doc.keys.get(keys) if doc is not None else None
                if where is not None:
                    break
            line, column = (where.line, where.column) if where else (None, None)
            problems.append(ConfigProblem(str(path), line, column, f"server.cluster.{field}", message))
        return ConfigError(problems)


def add_shard_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    shard = sub.add_parser("shard", help="which shard (0-based) probes each endpoint, and what each shard owns")
    shard.add_argument("--config", "-c", required=True)
    shard.add_argument("--shards", type=int, help="number of shards (default: server.cluster.shards)")
    shard.add_argument("names", nargs="*", metavar="NAME", help="endpoint names (default: a summary per shard)")
    return shard


def shard_lines(config: Config, shards: int | None, names: list[str]) -> tuple[list[str], int]:
    from slowatch.cluster import local_view
    from slowatch.config.cluster import ClusterConfig
    from slowatch.sharding import endpoint_hash, shard_of

    n = shards if shards is not None else (config.server.cluster.shards if config.server.cluster else 1)
    if not 1 <= n <= 4096:  # (server.cluster.shards' range)
        return [f"--shards must be 1..4096 (got {n})"], 2
    if names:
        known = {ep.name for ep in config.endpoints}
        lines = []
        for name in names:
            note = "" if name in known else "  (not in this config)"
            lines.append(f"{name}\tshard {shard_of(name, n)} of {n}\thash {endpoint_hash(name):#018x}{note}")
        return lines, 0
    lines = [f"{n} shard(s), 0-based; an endpoint lives in shard blake2b-64(name) mod {n}"]
    for i in range(n):
        cluster = ClusterConfig(shards=n, shard=i)
        view = local_view(config.model_copy(update={"server": config.server.model_copy(update={"cluster": cluster})}))
        lines.append(
            f"shard {i}: {len(view.local.endpoints)} endpoints, {len(view.local.consumers)} consumers "
            f"({len(view.partial)} partial)"
        )
    return lines, 0


__all__ = ["add_cluster_arguments", "add_shard_command", "apply_cluster_flags", "shard_lines"]
