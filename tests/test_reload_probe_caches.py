"""What the probes build once per endpoint (`ProbeContext`: request options, shared options dicts) does not pile up
over reloads that remove, rename or re-key endpoints (benchmarks/README.md, session 14)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestServer

from slowatch.config import load
from slowatch.daemon import Daemon
from slowatch.scheduler import phase_offset
from slowatch.workers.pool import ProberPool

WORKER_SIZES = Path(__file__).parent / "support" / "worker_sizes.py"


def config_text(tmp_path: Path, port: int, names: list[str], token: str, workers: int = 0) -> str:
    """Every endpoint sends its own `X-Token` header (one shared options dict per endpoint), as a per-endpoint
    secret rotated by each reload would."""
    endpoints = "".join(
        f"  - {{name: {n}, kind: http, url: 'http://127.0.0.1:{port}/ok', headers: {{X-Token: '{n}-{token}'}}}}\n"
        for n in names
    )
    return (
        f"server: {{database: '{tmp_path / 'd.db'}', listen: '127.0.0.1:0', probe_workers: {workers},"
        " shutdown_grace: 1s}\n"
        f"defaults: {{interval: 60s, timeout: 5s}}\nendpoints:\n{endpoints}"
    )


async def test_reloads_do_not_keep_what_was_built_for_removed_endpoints_or_old_headers(
    tmp_path: Path, target: TestServer
) -> None:
    """Before, `ProbeContext.http_options` kept each removed or renamed endpoint's cached request (its whole old
    definition) for the run, and `http_options_shared` one more options dict per changed header set per reload
    (tokens included): 8 reloads of 70 endpoints renamed and re-keyed left 630 of each."""
    path = tmp_path / "slowatch.yaml"
    names = [f"e{i}" for i in range(70)]
    path.write_text(config_text(tmp_path, target.port or 0, names, "t0"))
    daemon = Daemon(load(path), config_path=path, watch_interval=0)
    await daemon.start(serve=False)
    try:
        assert all(r.ok for r in await daemon.probe_all_once())
        for k in range(1, 9):
            names = [f"r{k}-{i}" for i in range(70)]  # every endpoint renamed, and its token rotated
            path.write_text(config_text(tmp_path, target.port or 0, names, f"t{k}"))
            assert await daemon.reload() is True
            assert all(r.ok for r in await daemon.probe_all_once())
        ctx = daemon._probing.ctx
        assert ctx is not None
        assert sorted(ctx.http_options) == sorted(names)
        assert len(ctx.http_options_shared) <= 2 * 70 + 70  # at most twice what the last pruning kept, + a round
        tokens = {v for key in ctx.http_options_shared for k, v in key[0] if k == "X-Token"}
        assert not {t for t in tokens if t.endswith(("-t0", "-t1", "-t2", "-t3", "-t4", "-t5"))}
    finally:
        await daemon.stop()


async def ask_worker(directory: Path, label: str) -> dict[str, object]:
    """What the prober worker's Interner holds now (tests/support/worker_sizes.py)."""
    (directory / f"ask-{label}").touch()
    for _ in range(600):  # (a generous deadline on a loaded machine: no assertion on how long it takes)
        answer = directory / f"{label}.json"
        if answer.exists():
            return dict(json.loads(answer.read_text()))
        await asyncio.sleep(0.05)
    raise TimeoutError(f"the prober worker did not answer {label}")


async def test_a_prober_worker_does_not_keep_the_header_dicts_of_old_reloads(
    tmp_path: Path, target: TestServer
) -> None:
    """Before, the worker's Interner (its shard's equal label/header dicts shared across chunks and reloads) kept
    every header dict it had met until 65,536 of them: each reload rotating a `${TOKEN}` left one more per
    distinct header set, the old secrets in them (benchmarks/README.md, session 15: +51 a reload, 20,000 after
    400). Here 10 reloads of 30 endpoints with their own tokens left 330, every token since the start."""
    path, asked = tmp_path / "slowatch.yaml", tmp_path / "asked"
    asked.mkdir()
    names = [f"e{i}" for i in range(30)]
    path.write_text(config_text(tmp_path, target.port or 0, names, "t0", workers=1))
    daemon = Daemon(load(path), config_path=path, watch_interval=0)
    pool = daemon._probing.scheduler
    assert isinstance(pool, ProberPool)
    pool._command = (sys.executable, str(WORKER_SIZES), str(asked))  # a real worker that answers ask_worker
    await daemon.start(serve=False)
    try:
        for k in range(1, 11):
            path.write_text(config_text(tmp_path, target.port or 0, names, f"t{k}", workers=1))
            assert await daemon.reload() is True
        for attempt in range(600):  # until the worker has applied the last reload (they arrive in order)
            held = await ask_worker(asked, str(attempt))
            headers = held["headers"]
            assert isinstance(headers, list)
            if "e0-t10" in headers:
                break
        else:
            raise AssertionError(f"the worker never applied the last reload: {held}")
        assert {h.rsplit("-", 1)[1] for h in headers} <= {"t8", "t9", "t10"}, sorted(headers)
        assert held["dicts"] <= 3 * len(names)  # at most twice what the last pruning kept, + a reload's
    finally:
        await daemon.stop()


async def until(check: object, what: str) -> None:
    for _ in range(1200):  # (a generous deadline on a loaded machine: no assertion on how long it takes)
        if callable(check) and check():
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(what)


async def test_endpoints_removed_while_their_probes_waited_leave_nothing_cached_in_the_worker(tmp_path: Path) -> None:
    """Before, a probe waiting for a concurrency slot when a reload removed its endpoint still ran afterwards, and a
    probe's retry after the reload: each built the endpoint's request options again after the reload let them go
    (`ProbeContext.forget`), for the rest of the run (benchmarks/README.md, session 15: 2,000 -> 2,395 entries for
    2,020 endpoints after 175 reloads adding and removing 20). Here one slot: one probe held by the target, the
    other seven waiting, then all eight removed."""
    release, arrived = asyncio.Event(), asyncio.Event()

    async def hold(request: web.Request) -> web.Response:
        arrived.set()
        await release.wait()
        return web.Response(status=500)  # (a retry follows, after the reload)

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/hold", hold)
    app.router.add_get("/ok", ok)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    path, asked = tmp_path / "slowatch.yaml", tmp_path / "asked"
    asked.mkdir()

    def soon(prefix: str) -> list[str]:  # names whose first run comes within 1 s of the start (of 60 s)
        return [n for n in (f"{prefix}{i}" for i in range(1000)) if phase_offset(n, 60.0) < 1.0][:8]

    def config(prefix: str, route: str) -> str:
        endpoints = [f"  - {{name: {n}, kind: http, url: 'http://127.0.0.1:{server.port}/{route}', retries: 1,"
                     " retry_delay: 0s}\n" for n in soon(prefix)]  # fmt: skip
        return (
            f"server: {{database: '{tmp_path / 'd.db'}', listen: '127.0.0.1:0', probe_workers: 1, max_concurrency: 1,"
            " shutdown_grace: 1s}\ndefaults: {interval: 60s, timeout: 25s}\nendpoints:\n" + "".join(endpoints)
        )

    path.write_text(config("old-", "hold"))
    daemon = Daemon(load(path), config_path=path, watch_interval=0)
    pool = daemon._probing.scheduler
    assert isinstance(pool, ProberPool)
    pool._command = (sys.executable, str(WORKER_SIZES), str(asked))
    await daemon.start(serve=False)
    try:
        await until(lambda: arrived.is_set() and pool.in_flight == 8, "one probe held, seven waiting for the slot")
        path.write_text(config("new-", "ok"))
        assert await daemon.reload() is True
        held = await ask_worker(asked, "reloaded")  # the reload applied: the old names forgotten
        assert held["http_options"] == []
        release.set()
        # The slot goes to its waiters in turn: a new endpoint's result means the old ones' turns are over.
        await until(lambda: any(name.startswith("new-") for name in daemon.latest), "a new endpoint probed")
        held = await ask_worker(asked, "after")
        assert not [name for name in held["http_options"] if name.startswith("old-")], held["http_options"]
        assert not [name for name in daemon.latest if name.startswith("old-")], sorted(daemon.latest)
    finally:
        await daemon.stop()
        await server.close()
