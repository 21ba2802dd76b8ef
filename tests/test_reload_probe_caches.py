"""What the probes build once per endpoint (`ProbeContext`: request options, shared options dicts) does not pile up
over reloads that remove, rename or re-key endpoints (benchmarks/README.md, session 14)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from aiohttp.test_utils import TestServer

from slowatch.config import load
from slowatch.daemon import Daemon
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
        ctx = daemon._ctx
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
    pool = daemon._scheduler
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

