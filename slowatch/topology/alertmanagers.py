"""Two (or more) Debian `prometheus-alertmanager` processes clustered on loopback, routing to a Slack stand-in.

Every member gossips on its own 127.0.0.1 port (`--cluster.listen-address`, `--cluster.advertise-address`)
and lists the others as `--cluster.peer`. Alertmanager's HA design: every client sends each alert to
every member; members share notification logs and silences by gossip, and the member at position n waits
n x `--cluster.peer-timeout` before notifying, so it finds the first member's notification in the log and
stays silent. A member notifies only once the cluster has *settled* (`--cluster.settle-timeout`), so
`ready()` waits until every member reports the cluster `ready` with all peers.

The route groups by every label (`group_by: ['...']`): each alert is its own notification, so "each
alert reaches Slack once" can be counted.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from slowatch.topology.processes import Service, free_port, get_json
from slowatch.topology.slack import SLACK_TEXT


@dataclass(frozen=True, slots=True)
class AmTiming:
    group_wait: str = "1s"
    group_interval: str = "5s"
    """Keep it well above `peer_timeout` x members: a member still waiting out its peer timeout with the
    previous flush's firing state, after another member already notified the resolution, notifies the stale
    firing state once more (seen here with 2s / 3s)."""
    repeat_interval: str = "4h"
    peer_timeout: str = "1s"
    """Gossip on loopback takes milliseconds; Alertmanager's default (15s) is for members across a network."""
    settle_timeout: str = "2s"
    """Alertmanager's settle waits for 4 stable polls of 10 x the gossip interval (1 s here), so on loopback it
    always ran into its timeout (5 s before) although the peers had joined after 1 s; `ready()` still waits
    until every member lists every peer."""


def alertmanager_config(slack_url: str, t: AmTiming) -> str:
    return f"""\
route:
  receiver: slack
  group_by: ['...']
  group_wait: {t.group_wait}
  group_interval: {t.group_interval}
  repeat_interval: {t.repeat_interval}
receivers:
  - name: slack
    slack_configs:
      - api_url: "{slack_url}"
        channel: "#alerts"
        send_resolved: true
        title: "{{{{ .Status }}}} {{{{ .CommonLabels.alertname }}}}"
        text: '{SLACK_TEXT}'
"""


class AlertmanagerCluster:
    def __init__(
        self, binary: str, workdir: Path, members: int, timing: AmTiming, *, ports: range | None = None
    ) -> None:
        self.workdir = workdir
        self.timing = timing
        web = [free_port(ports=ports) for _ in range(members)]
        gossip = [free_port(ports=ports) for _ in range(members)]
        self.urls = [f"http://127.0.0.1:{p}" for p in web]
        self.members: list[Service] = []
        for i in range(members):
            peers = [f"--cluster.peer=127.0.0.1:{g}" for j, g in enumerate(gossip) if j != i]
            argv = [
                binary, f"--config.file={workdir / 'alertmanager.yml'}", f"--storage.path=data-{i + 1}",
                f"--web.listen-address=127.0.0.1:{web[i]}", f"--cluster.listen-address=127.0.0.1:{gossip[i]}",
                f"--cluster.advertise-address=127.0.0.1:{gossip[i]}", *peers,
                f"--cluster.peer-timeout={timing.peer_timeout}", f"--cluster.settle-timeout={timing.settle_timeout}",
                "--cluster.gossip-interval=100ms", "--cluster.pushpull-interval=5s", "--cluster.reconnect-interval=1s",
            ]  # fmt: skip
            self.members.append(
                Service(f"alertmanager-{i + 1}", argv, cwd=workdir, url=self.urls[i], ready_path="/-/ready")
            )

    def write_config(self, slack_url: str) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "alertmanager.yml").write_text(alertmanager_config(slack_url, self.timing))

    async def spawn(self) -> None:
        for m in self.members:
            await m.spawn()

    async def ready(self, within: float) -> None:
        """Every member answers and reports a settled cluster with every peer."""
        await asyncio.gather(*(m.ready(within) for m in self.members))
        if len(self.members) < 2:
            return
        deadline = time.monotonic() + within
        status: object = None
        while time.monotonic() < deadline:
            try:
                docs = [await get_json(f"{u}/api/v2/status") for u in self.urls]
            except aiohttp.ClientError:
                docs = []
            if docs and all(_settled(d, len(self.members)) for d in docs):
                return
            status = docs
            await asyncio.sleep(0.2)
        raise TimeoutError(f"alertmanager cluster not settled after {within:g}s: {status}")

    async def stop(self) -> None:
        """One member after the other: a member leaving a cluster whose peers are all gone waits 10 s for
        their acknowledgement; leaving while the others still run takes milliseconds."""
        for m in reversed(self.members):
            await m.stop()


def _settled(doc: object, members: int) -> bool:
    if not isinstance(doc, dict):
        return False
    cluster = doc.get("cluster") or {}
    return bool(cluster.get("status") == "ready" and len(cluster.get("peers") or []) == members)


__all__ = ["AlertmanagerCluster", "AmTiming", "alertmanager_config"]
