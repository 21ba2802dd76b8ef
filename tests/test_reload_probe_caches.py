"""What the probes build once per endpoint (`ProbeContext`: request options, shared options dicts) does not pile up
over reloads that remove, rename or re-key endpoints (benchmarks/README.md, session 14)."""

from __future__ import annotations

from pathlib import Path

from aiohttp.test_utils import TestServer

from slowatch.config import load
from slowatch.daemon import Daemon


def config_text(tmp_path: Path, port: int, names: list[str], token: str) -> str:
    """Every endpoint sends its own `X-Token` header (one shared options dict per endpoint), as a per-endpoint
    secret rotated by each reload would."""
    endpoints = "".join(
        f"  - {{name: {n}, kind: http, url: 'http://127.0.0.1:{port}/ok', headers: {{X-Token: '{n}-{token}'}}}}\n"
        for n in names
    )
    return (
        f"server: {{database: '{tmp_path / 'd.db'}', listen: '127.0.0.1:0', probe_workers: 0, shutdown_grace: 1s}}\n"
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
