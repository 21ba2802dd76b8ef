"""A storm of alerts through one sink: how long until the receiver has them all, how many requests and store
transactions that took (each attempt commits its going-out mark first: SinkWorker.going_out).

N endpoints fire at once (failure threshold 1) towards one webhook sink: a real aiohttp receiver in this process,
answering 503 to the first `--fail` requests (then 200), on a real SQLite file. `--threshold` is storm control's
(default 10: the storm goes as grouped messages of up to 200; a huge one sends each alert alone). `--full-disk`:
the database cannot grow meanwhile (nothing commits: the alerts must go out all the same).

    .venv/bin/python benchmarks/alert_storm.py --endpoints 1000 [--threshold 100000] [--fail 5] [--full-disk]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from slowatch.alerting import AlertService
from slowatch.clock import FakeClock
from slowatch.config.schema import Config, RetentionConfig
from slowatch.models import Outcome, ProbeResult
from slowatch.store import Store


class Receiver:
    def __init__(self, fail: int) -> None:
        self.fail, self.posts, self.events = fail, 0, 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.posts += 1
        if self.posts <= self.fail:
            return web.Response(status=503, text="busy")
        self.events += len(body["events"])
        return web.Response(text="ok")


def config(db: Path, n: int, url: str, threshold: int) -> Config:
    sink = {"kind": "webhook", "url": url, "retry_initial": "100ms", "retry_max": "200ms", "timeout": "5s"}
    eps: list[dict[str, Any]] = [
        {"name": f"ep{i}", "kind": "http", "url": f"http://127.0.0.1:9/{i}", "alerts": {"failure_threshold": 1}}
        for i in range(n)
    ]  # fmt: skip
    storm = {"threshold": threshold, "window": "1m", "group_wait": "0s", "group_interval": "200ms"}
    return Config.model_validate(
        {
            "server": {"database": str(db)},
            "endpoints": eps,
            "sinks": {"hook": sink},
            "routes": [{"match": {}, "sinks": ["hook"]}],
            "alerting": {"storm": storm},
        }
    )


async def main(n: int, threshold: int, fail: int, full_disk: bool) -> None:
    receiver = Receiver(fail)
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    clock = FakeClock()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = config(Path(tmp) / "a.db", n, f"http://127.0.0.1:{port}/hook", threshold)
        store = Store(cfg.server.database, clock=clock, retention=RetentionConfig(), batch_interval=0.05)
        service = AlertService(cfg, store, clock)
        await store.start()
        await service.start()
        if full_disk:  # the database cannot grow (SQLITE_FULL, as on a full disk) and the store knows it
            pages = await store.read(lambda db: db.execute("PRAGMA page_count").fetchone()[0])
            store.set_max_page_count(pages)
            store.put_state("filler", "x" * 100_000)
            while store.healthy:
                await asyncio.sleep(0.01)
        tx0 = store._writer.transactions
        t0, cpu0 = time.monotonic(), time.process_time()
        clock.advance(10)
        for i in range(n):
            service.observe(ProbeResult(f"ep{i}", "http", Outcome.TIMEOUT, clock.time(), 0.01))
        while receiver.events < n:
            await asyncio.sleep(0.01)
        took, cpu = time.monotonic() - t0, time.process_time() - cpu0
        if not full_disk:  # (the marks of the last acks)
            await store.flush(fold=False)
        tx = store._writer.transactions - tx0
        if full_disk:  # (nothing committed meanwhile; space is back for the close)
            store.set_max_page_count(None)
        print(f"alerts={n} threshold={threshold} fail={fail} full_disk={full_disk} all_received_s={took:.2f} "
              f"cpu_s={cpu:.2f} posts={receiver.posts} transactions_committed={tx}")  # fmt: skip
        await service.stop()
        await store.close()
    await runner.cleanup()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoints", type=int, default=1000)
    ap.add_argument("--threshold", type=int, default=10)
    ap.add_argument("--fail", type=int, default=0, help="the first FAIL requests are answered 503")
    ap.add_argument("--full-disk", action="store_true", help="the store cannot commit (and knows it) meanwhile")
    a = ap.parse_args()
    asyncio.run(main(a.endpoints, a.threshold, a.fail, a.full_disk))
