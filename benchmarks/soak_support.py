"""Pieces of the soak benchmark: flapping targets that keep a record of their own outages, alert
receivers (a Slack stand-in and a JSON webhook) that flap between healthy and broken and count what
they accepted, and the fd/thread/RSS figures of a process tree."""

from __future__ import annotations

import asyncio
import collections
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

FAILURES_TO_FIRE = 2  # the soak config's failure_threshold


@dataclass
class Outage:
    start: float
    end: float | None = None
    failures: int = 0


class Flappers:
    """`/flap/<i>`: 200 normally; 503 for `down` s every `period` s (phases staggered) once started."""

    def __init__(self, n: int, *, period: float, down: float) -> None:
        self.n, self.period, self.down = n, period, down
        self.t0: float | None = None
        self.outages: dict[int, list[Outage]] = {i: [] for i in range(n)}

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/flap/{i}", self.handle)

    def start(self) -> None:
        self.t0 = time.monotonic()

    def stop(self) -> None:
        self.t0 = None

    def is_down(self, i: int) -> bool:
        if self.t0 is None:
            return False
        phase = i * self.period / max(self.n, 1)
        return (time.monotonic() - self.t0 - phase) % self.period < self.down and time.monotonic() - self.t0 >= phase

    async def handle(self, request: web.Request) -> web.Response:
        i = int(request.match_info["i"])
        history = self.outages[i]
        if self.is_down(i):
            if not history or history[-1].end is not None:
                history.append(Outage(time.time()))
            history[-1].failures += 1
            return web.Response(status=503, text="down")
        if history and history[-1].end is None:
            history[-1].end = time.time()
        return web.Response(text="ok")

    def expected(self, i: int) -> int:
        """Outages long enough (in consecutive failed probes) to fire an endpoint-down alert."""
        return sum(1 for o in self.outages[i] if o.failures >= FAILURES_TO_FIRE)


MODES = ["ok", "500", "ok", "429", "ok", "reset", "ok", "hang"]


@dataclass
class Delivery:
    endpoint: str
    status: str
    since: str
    event_id: str


@dataclass
class Receiver:
    """`/slack` and `/webhook`: accept (200) or fail by the current mode; remember what was accepted."""

    cycle: float
    t0: float | None = None
    delivered: dict[str, list[Delivery]] = field(default_factory=lambda: {"slack": [], "webhook": []})
    refused: collections.Counter[str] = field(default_factory=collections.Counter)
    requests: collections.Counter[str] = field(default_factory=collections.Counter)
    modes_seen: set[str] = field(default_factory=set)
    grouped: int = 0

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/slack", self.slack)
        app.router.add_post("/webhook", self.webhook)

    def start(self) -> None:
        self.t0 = time.monotonic()

    def stop(self) -> None:
        self.t0 = None

    def mode(self) -> str:
        if self.t0 is None:
            return "ok"
        return MODES[int((time.monotonic() - self.t0) / self.cycle) % len(MODES)]

    async def failure(self, sink: str, request: web.Request) -> web.Response | None:
        mode = self.mode()
        self.modes_seen.add(mode)
        self.requests[mode] += 1
        if mode == "ok":
            return None
        self.refused[sink] += 1
        if mode == "500":
            return web.Response(status=500, text="internal_error")
        if mode == "429":
            return web.Response(status=429, text="rate_limited", headers={"Retry-After": "1"})
        if mode == "hang":
            await asyncio.sleep(10)  # past the sink's 2 s timeout: the sender gives up, nothing was accepted
            return web.Response(status=503)
        assert request.transport is not None
        request.transport.abort()  # reset
        raise asyncio.CancelledError

    async def slack(self, request: web.Request) -> web.Response:
        body = await request.json()
        if (fail := await self.failure("slack", request)) is not None:
            return fail
        header = body["blocks"][0]["text"]["text"]
        context = body["blocks"][-1]["elements"][0]["text"] if body["blocks"][-1]["type"] == "context" else ""
        match = re.search(r"alert `([^`]+)` · since (.+)$", context)
        if match is None:
            self.grouped += 1
            return web.Response(text="ok")
        status = "resolved" if header.startswith("RESOLVED") else "reminder" if "STILL" in header else "firing"
        self.delivered["slack"].append(Delivery(match.group(1), status, match.group(2), ""))
        return web.Response(text="ok")

    async def webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        if (fail := await self.failure("webhook", request)) is not None:
            return fail
        for e in body["events"]:
            self.delivered["webhook"].append(Delivery(e["endpoint"] or e["alert"], e["status"], e["since"], e["id"]))
        return web.Response(text="ok")

    def flapper_deliveries(self, sink: str, i: int) -> list[Delivery]:
        name = f"flapper-{i}"
        return [d for d in self.delivered[sink] if d.endpoint == name or d.endpoint.endswith(f":{name}")]

    def resolved_all(self, sink: str, flappers: Flappers) -> bool:
        return all(
            len({d.since for d in self.flapper_deliveries(sink, i) if d.status == "resolved"}) >= flappers.expected(i)
            for i in range(flappers.n)
        )

    def tally(self, sink: str, flappers: Flappers) -> dict[str, Any]:
        expected = delivered = lost = duplicated = spurious = 0
        for i in range(flappers.n):
            want = flappers.expected(i)
            got = self.flapper_deliveries(sink, i)
            for status in ("firing", "resolved"):
                keys = [(d.since, d.event_id) for d in got if d.status == status]
                unique = {since for since, _ in keys}
                expected += want
                delivered += len(unique)
                lost += max(0, want - len(unique))
                spurious += max(0, len(unique) - want)
                duplicated += len(keys) - len(unique)
        others = sum(1 for d in self.delivered[sink] if not d.endpoint.split(":")[-1].startswith("flapper-"))
        return {
            "expected": expected, "delivered": delivered, "lost": lost, "duplicated": duplicated,
            "spurious": spurious, "refused": self.refused[sink], "other_alerts": others,
            "grouped_messages": self.grouped if sink == "slack" else 0,
        }  # fmt: skip


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def proc_tree_stats(pid: int) -> dict[str, float]:
    """Open fds, threads and RSS (MB) summed over a process and its descendants."""
    fds = threads = rss_kb = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        todo += _children(p)
        try:
            fds += len(os.listdir(f"/proc/{p}/fd"))
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("Threads:"):
                        threads += int(line.split()[1])
                    elif line.startswith("VmRSS:"):
                        rss_kb += int(line.split()[1])
        except OSError:
            continue
    return {"fds": float(fds), "threads": float(threads), "rss_mb": round(rss_kb / 1024, 1)}


def proc_rss(pid: int) -> list[dict[str, Any]]:
    """Per process of the tree: pid, role (`daemon` or `worker`), RSS and its anonymous/file parts (MB)."""
    out: list[dict[str, Any]] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        todo += _children(p)
        row: dict[str, Any] = {"pid": p, "role": "daemon" if p == pid else "worker"}
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    key, _, value = line.partition(":")
                    if key in ("VmRSS", "RssAnon", "RssFile"):
                        row[{"VmRSS": "rss_mb", "RssAnon": "anon_mb", "RssFile": "file_mb"}[key]] = round(
                            int(value.split()[0]) / 1024, 1
                        )
        except OSError:
            continue
        out.append(row)
    return out


__all__ = ["Flappers", "Receiver", "proc_rss", "proc_tree_stats"]
