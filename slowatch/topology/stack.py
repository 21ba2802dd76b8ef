"""A whole multi-instance topology on one machine, loopback only: what `scripts/cluster-demo` starts and what
tests/e2e/test_cluster_topology.py checks.

    slowatch instances (InstanceSpec: shard, replica, location, extra env), each `python -m slowatch run`
        │  /metrics (shard, replica, location labels)          │ alertmanager sinks, to every member
        ▼                                                      ▼
    Debian's `prometheus` + the generated rules ──alerts──► 2 `prometheus-alertmanager`, clustered (gossip)
                                                               │ slack_configs, each alert once
                                                               ▼
                                                         SlackStandIn (an aiohttp server in this process)

Every instance gets the environment `SLOWATCH_ALERTMANAGER_1`, `SLOWATCH_ALERTMANAGER_2`, ... (the
Alertmanagers' URLs, for the config's `alertmanager` sinks) and runs in its own directory, so a relative
`server.database` is one database per instance.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slowatch.config import load
from slowatch.generate.prometheus import render_rules
from slowatch.topology.alertmanagers import AlertmanagerCluster, AmTiming
from slowatch.topology.processes import Service, free_port, get_json
from slowatch.topology.slack import SlackStandIn


@dataclass(frozen=True, slots=True)
class InstanceSpec:
    """One slowatch process: its place (`--shard`, `--replica`, `--location`), extra env, whether scraped."""

    shard: int = 0
    shards: int = 1
    replica: str | None = None
    location: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    config: Path | None = None
    """Another config file than the topology's (e.g. a reference instance that sends no alerts)."""
    scraped: bool = True

    @property
    def name(self) -> str:
        parts = [f"shard{self.shard}" if self.shards > 1 else "", self.replica or "", self.location or ""]
        return "-".join(p for p in parts if p) or "single"

    def flags(self) -> list[str]:
        out = ["--shard", f"{self.shard}/{self.shards}"] if self.shards > 1 else []
        out += ["--replica", self.replica] if self.replica else []
        return out + (["--location", self.location] if self.location else [])


def grid(shards: int, replicas: int) -> list[InstanceSpec]:
    """`shards` x `replicas` instances: replicas a, b, c, ... of every shard."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    return [InstanceSpec(shard=s, shards=shards, replica=letters[r]) for s in range(shards) for r in range(replicas)]


def prometheus_config(targets: Sequence[str], alertmanagers: Sequence[str], interval: float) -> str:
    listed = ", ".join(f'"{t}"' for t in targets)
    ams = ", ".join(f'"{a.removeprefix("http://")}"' for a in alertmanagers)
    text = (
        f"global: {{scrape_interval: {interval:g}s, evaluation_interval: {interval:g}s}}\n"
        "rule_files: [rules.yml]\n"
        f"scrape_configs:\n  - job_name: slowatch\n    static_configs: [{{targets: [{listed}]}}]\n"
    )
    if alertmanagers:
        text += f"alerting:\n  alertmanagers:\n    - static_configs: [{{targets: [{ams}]}}]\n"
    return text


class Topology:
    """Start with `await start()`, stop with `await stop()` (everything, in reverse order, bounded)."""

    def __init__(
        self,
        workdir: Path,
        config: Path,
        specs: Sequence[InstanceSpec],
        *,
        prometheus: str,
        alertmanager: str,
        alertmanagers: int = 2,
        interval: float = 1.0,
        timing: AmTiming | None = None,
        env: Mapping[str, str] | None = None,
        prometheus_alerts: bool = True,
        ports: range | None = None,
    ) -> None:
        """`ports`: take every port from these (`port_share`), else from anywhere below the ephemeral range."""
        self.workdir = workdir.resolve()
        self.config = config.resolve()
        self.ports = ports
        self.slack = SlackStandIn(ports=ports)
        self.ams = AlertmanagerCluster(
            alertmanager, self.workdir / "alertmanager", alertmanagers, timing or AmTiming(), ports=ports
        )
        self.env = {**(env or {}), **{f"SLOWATCH_ALERTMANAGER_{i + 1}": u for i, u in enumerate(self.ams.urls)}}
        self.instances = {spec.name: self._instance(spec) for spec in specs}
        self.specs = {spec.name: spec for spec in specs}
        self.prometheus_binary = prometheus
        self.prometheus_alerts = prometheus_alerts
        self.interval = interval
        port = free_port(ports=self.ports)
        self.prometheus = Service(
            "prometheus",
            [prometheus, "--config.file=prometheus.yml", "--storage.tsdb.path=tsdb",
             f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle"],
            cwd=self.workdir / "prometheus", url=f"http://127.0.0.1:{port}", ready_path="/-/ready",
        )  # fmt: skip

    def _instance(self, spec: InstanceSpec) -> Service:
        port = free_port(ports=self.ports)
        config = (spec.config or self.config).resolve()
        argv = [sys.executable, "-m", "slowatch", "run", "--config", str(config), "--listen", f"127.0.0.1:{port}"]
        return Service(
            spec.name, [*argv, *spec.flags()], cwd=self.workdir / spec.name, url=f"http://127.0.0.1:{port}",
            ready_path="/readyz", env={**self.env, **spec.env},
        )  # fmt: skip

    async def start(self, within: float = 60.0) -> None:
        try:
            await self.slack.start()
            self.ams.write_config(self.slack.url)
            await self.ams.spawn()
            for service in self.instances.values():
                await service.spawn()
            rules = await asyncio.to_thread(self._rules)
            await self._start_prometheus(rules)
            services = [self.prometheus, *self.instances.values()]
            await asyncio.gather(self.ams.ready(within), *(s.ready(within) for s in services))
        except BaseException:
            await self.stop()
            raise

    def _rules(self) -> str:
        """The rules of the whole config, loaded as the first instance loads it (instances differ only in
        their place and in what their env points at, not in what the rules need)."""
        first = next(iter(self.specs.values()), InstanceSpec())
        return render_rules(load(self.config, env={**os.environ, **self.env, **first.env}), str(self.config))

    async def _start_prometheus(self, rules: str) -> None:
        cwd = self.prometheus.cwd
        cwd.mkdir(parents=True, exist_ok=True)
        (cwd / "rules.yml").write_text(rules)
        targets = [s.url.removeprefix("http://") for n, s in self.instances.items() if self.specs[n].scraped]
        ams = self.ams.urls if self.prometheus_alerts else []
        (cwd / "prometheus.yml").write_text(prometheus_config(targets, ams, self.interval))
        await self.prometheus.spawn()

    async def stop(self) -> dict[str, int | None]:
        """Everything stopped (SIGTERM, bounded): the exit code of each slowatch instance."""
        codes = dict(
            zip(self.instances, await asyncio.gather(*(s.stop() for s in self.instances.values())), strict=True)
        )
        await asyncio.gather(self.prometheus.stop(), self.ams.stop())
        await self.slack.stop()
        return codes

    async def query(self, expr: str) -> list[dict[str, Any]]:
        """Prometheus's instant vector for `expr`."""
        doc = await get_json(f"{self.prometheus.url}/api/v1/query", {"query": expr})
        assert isinstance(doc, dict) and doc.get("status") == "success", (expr, doc)
        result: list[dict[str, Any]] = doc["data"]["result"]
        return result

    async def values(self, expr: str, *keys: str) -> dict[tuple[str, ...], float]:
        """`expr` as {(values of the labels `keys`): value}."""
        return {tuple(i["metric"].get(k, "") for k in keys): float(i["value"][1]) for i in await self.query(expr)}

    def describe(self) -> list[str]:
        lines = [f"slowatch {name:24} {s.url}/  (metrics {s.url}/metrics)" for name, s in self.instances.items()]
        lines.append(f"prometheus {'':22} {self.prometheus.url}/  (rules: {self.prometheus.url}/rules)")
        lines += [f"alertmanager {i + 1:<20} {u}/" for i, u in enumerate(self.ams.urls)]
        lines.append(f"slack stand-in {'':18} {self.slack.url}  (what arrives is printed here)")
        lines.append(f"logs and databases {'':14} {self.workdir}")
        return lines


__all__ = ["InstanceSpec", "Topology", "grid", "prometheus_config"]
