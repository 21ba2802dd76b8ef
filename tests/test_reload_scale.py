"""Reload at scale (issue #16): only what changed is applied, on the loop; the rest is done aside."""

from __future__ import annotations

import asyncio
import gc
import random
from collections.abc import Callable
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestServer

from slowatch.config import load, load_text
from slowatch.config.diff import diff_endpoints
from slowatch.config.endpoints import HttpEndpoint
from slowatch.daemon import Daemon
from slowatch.scheduler import ProbeScheduler
from slowatch.workers import ProberPool


def ep(name: str, interval: float = 1.0, **kw: object) -> HttpEndpoint:
    return HttpEndpoint.model_validate(
        {"name": name, "kind": "http", "url": "http://127.0.0.1:1/", "interval": interval, "timeout": 0.5, **kw}
    )


async def nothing(endpoint: HttpEndpoint, revision: int) -> None:
    return None


def scheduler() -> ProbeScheduler:
    def ignore(x: object) -> None:
        return None

    return ProbeScheduler(
        nothing,  # type: ignore[arg-type]
        max_concurrency=10, jitter=0.0, observe_lag=ignore, on_skipped=ignore, on_missed=ignore,
    )  # fmt: skip


def variant(rng: random.Random, name: str) -> HttpEndpoint:
    return ep(name, rng.choice([1.0, 2.0]), url=f"http://127.0.0.1:1/{rng.randint(0, 1)}", enabled=rng.random() > 0.2)


async def test_applying_the_changes_alone_ends_where_a_full_update_does() -> None:
    rng = random.Random(16)
    for _ in range(30):
        old = [variant(rng, f"e{i}") for i in rng.sample(range(12), 8)]
        new = [variant(rng, f"e{i}") for i in rng.sample(range(12), 8)]
        full, partial = scheduler(), scheduler()
        full.start(old)
        partial.start(old)
        slots = (dict(full._slots), dict(partial._slots))
        counts = full.update(new)
        assert partial.update(new, diff_endpoints(old, new)) == counts
        assert {n: s.ep for n, s in full._slots.items()} == {n: s.ep for n, s in partial._slots.items()}
        kept = [
            {n for n, s in sched._slots.items() if s is before.get(n)}
            for sched, before in zip((full, partial), slots, strict=True)
        ]
        assert kept[0] == kept[1]  # the same jobs kept their phase
        await full.stop(0.1)
        await partial.stop(0.1)


async def test_changes_reach_the_prober_worker_that_owns_the_endpoint() -> None:
    hits: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    before = [ep(f"e{i}", url=f"http://127.0.0.1:{server.port}/old/{i}") for i in range(6)]
    after = [*before[:2], ep("e2", url=f"http://127.0.0.1:{server.port}/new/2"), *before[3:5], ep("e9")]
    pool = ProberPool(
        2, on_result=lambda r: None, observe_lag=lambda s: None, on_skipped=lambda n: None,
        on_missed=lambda n: None, max_concurrency=10, jitter=0.0,
    )  # fmt: skip
    try:
        await pool.start(before)
        assert pool.update(after, diff_endpoints(before, after)) == (1, 1, 1)
        assert pool.job_count == 6
        await wait(lambda: "/new/2" in hits, 10.0)
        await asyncio.sleep(2.2)
        later = hits[hits.index("/new/2") :]
        assert "/old/2" not in later and "/old/5" not in later
        assert {"/old/0", "/old/1", "/old/3", "/old/4"} <= set(later)  # the others kept probing
    finally:
        await pool.stop(1.0)
        await server.close()


async def wait(check: Callable[[], bool], timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def in_a_generation(obj: object) -> bool:
    return any(o is obj for generation in range(3) for o in gc.get_objects(generation))


async def test_a_reloaded_config_is_kept_out_of_the_cyclic_gc(tmp_path: Path) -> None:
    path = tmp_path / "slowatch.yaml"
    text = f"server: {{database: '{tmp_path / 'd.db'}'}}\nendpoints:\n" + "".join(
        f"  - {{name: e{i}, kind: http, url: 'http://127.0.0.1:1/{i}', interval: 60s}}\n" for i in range(50)
    )
    path.write_text(text)
    daemon = Daemon(load(path), config_path=path, watch_interval=0)
    await daemon.start(serve=False)
    try:
        path.write_text(text.replace("/7'", "/7?x'"))
        assert await daemon.reload()
        new = daemon.config.endpoints[7]
        assert new.url.endswith("?x")
        assert gc.is_tracked(new.__dict__) and not in_a_generation(new.__dict__)  # frozen: never scanned
    finally:
        await daemon.stop()


def test_loading_runs_no_cyclic_collection() -> None:
    text = "endpoints:\n" + "".join(
        f"  - {{name: e{i}, kind: http, url: 'http://127.0.0.1:1/{i}'}}\n" for i in range(3000)
    )
    collections: list[int] = []

    def record(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    gc.callbacks.append(record)
    try:
        config = load_text(text, env={})
    finally:
        gc.callbacks.remove(record)
    assert len(config.endpoints) == 3000
    assert collections == [] and gc.isenabled()
