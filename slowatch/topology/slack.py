"""A Slack stand-in: an aiohttp server on loopback that receives Alertmanager's `slack_configs` posts.

Alertmanager renders `SLACK_TEXT` (a Go template: one line per alert, `status|fingerprint|k=v;k=v;`) into
the attachment's text; the stand-in parses it back into `Delivery` values, so a test (or the demo's
output) sees exactly which alert arrived in which state, and how many times.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from aiohttp import web

from slowatch.topology.processes import free_port

SLACK_TEXT = (
    r"{{ range .Alerts }}{{ .Status }}|{{ .Fingerprint }}|{{ range .Labels.SortedPairs }}{{ .Name }}={{ .Value }};"
    r'{{ end }}{{ "\n" }}{{ end }}'
)


@dataclass(frozen=True, slots=True)
class Delivery:
    status: str  # firing | resolved
    fingerprint: str
    labels: dict[str, str]
    at: float

    @property
    def text(self) -> str:
        """One line for a person: what, where, and who raised it (a slowatch instance, or Prometheus's rules)."""
        what = self.labels.get("endpoint") or f"{self.labels.get('consumer', '')}/{self.labels.get('slo', '')}"
        if "alert_key" in self.labels:
            where = ", ".join(f"{k} {self.labels[k]}" for k in ("shard", "location") if k in self.labels)
            source = f"slowatch ({where})" if where else "slowatch"
        else:
            source = "prometheus rules"
        severity = self.labels.get("severity", "")
        return f"{self.status:8} {self.labels.get('alertname', '?')} {what} severity={severity} from {source}"


def parse_text(text: str, at: float) -> list[Delivery]:
    out = []
    for line in text.splitlines():
        status, _, rest = line.partition("|")
        fingerprint, _, pairs = rest.partition("|")
        if not fingerprint:
            continue
        labels = dict(p.split("=", 1) for p in pairs.split(";") if "=" in p)
        out.append(Delivery(status.strip(), fingerprint, labels, at))
    return out


class SlackStandIn:
    def __init__(self, *, ports: range | None = None) -> None:
        self.deliveries: list[Delivery] = []
        self.arrived = asyncio.Event()
        self.port = free_port(ports=ports)
        self.url = f"http://127.0.0.1:{self.port}/slack"
        self._runner: web.AppRunner | None = None

    async def _post(self, request: web.Request) -> web.Response:
        doc = await request.json()
        for attachment in doc.get("attachments") or []:
            self.deliveries.extend(parse_text(str(attachment.get("text", "")), time.time()))
        self.arrived.set()
        return web.Response(text="ok")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/slack", self._post)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


__all__ = ["SLACK_TEXT", "Delivery", "SlackStandIn", "parse_text"]
