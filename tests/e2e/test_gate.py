"""The real daemon: a consumer's deploy gate flips from go to hold when its budget falls below the
policy, over HTTP (with the consumer's own token) and through `slowatch gate` (daemon and database)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.e2e.harness import DaemonProcess

DOWN: web.AppKey[list[bool]] = web.AppKey("down", list)
OPERATOR, SHOP = "operator-token-0123456789", "shop-token-0123456789abc"


@pytest.fixture
async def target() -> AsyncIterator[TestServer]:
    calls = [0]

    async def api(request: web.Request) -> web.Response:
        """Once degraded, every third request fails: the 50% SLO's budget left sinks steadily towards
        33% and never reaches 0 (only `freeze_below` can hold)."""
        calls[0] += 1
        return web.Response(status=503 if request.app[DOWN][0] and calls[0] % 3 == 0 else 200)

    app = web.Application()
    app[DOWN] = [False]
    app.router.add_get("/api", api)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


async def gate_cli(*args: str, token: str | None = None) -> tuple[int, str]:
    env = {**os.environ, "SLOWATCH_TOKEN": token} if token else dict(os.environ)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "slowatch", "gate", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env,
    )  # fmt: skip
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode()


@pytest.mark.slow
async def test_gate_flips_to_hold_when_the_budget_falls_below_the_policy(tmp_path: Path, target: TestServer) -> None:
    config = tmp_path / "slowatch.yaml"
    config.write_text(f"""
server:
  database: "{tmp_path / "daemon.db"}"
  auth: {{operator_tokens: ["{OPERATOR}"]}}
endpoints:
  - {{name: api, kind: http, url: "{target.make_url("/api")}", interval: 1s, timeout: 500ms}}
consumers:
  - name: shop
    endpoints: [api]
    access: {{tokens: ["{SHOP}"]}}
    slos:
      - name: availability
        sli: availability
        objective: 50
        window: 1h
        policy: {{freeze_below: 90%, message: "ask #sre before shipping"}}
""")
    daemon = DaemonProcess(config, tmp_path)
    url = f"{daemon.url}/api/v1/consumers/shop/gate"
    try:
        await daemon.start()
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {SHOP}"}) as s:

            async def gate() -> dict[str, object]:
                async with s.get(url) as r:
                    assert r.status == 200, await r.text()
                    doc = await r.json()
                    assert isinstance(doc, dict)
                    return doc

            first = await gate()  # too few probes yet: collecting data never holds a deploy
            assert first["decision"] == "go" and "collecting data" in str(first["reason"]), first
            code, out = await gate_cli("--url", daemon.url, "--consumer", "shop", token=SHOP)
            assert code == 0 and out.startswith("GO: "), out
            async with s.get(f"{daemon.url}/consumers/shop") as r:
                assert "deploys may go</b> · shop/availability is still collecting data" in await r.text()

            deadline = time.monotonic() + 20
            while (await gate())["slos"][0]["rule"] != "within policy":  # type: ignore[index]
                assert time.monotonic() < deadline, await gate()
                await asyncio.sleep(0.5)
            target.app[DOWN][0] = True
            while (doc := await gate())["decision"] != "hold":
                assert time.monotonic() < deadline + 20, doc
                await asyncio.sleep(0.5)
            [slo] = doc["slos"]  # type: ignore[misc]
            assert slo["rule"] == "freeze_below: 90.0%" and slo["message"] == "ask #sre before shipping"
            assert 0 < slo["budget_remaining"] < 0.9 and slo["burn_rate_1h"] > 0.05
            while (await gate())["slos"][0]["budget_remaining"] > 0.75:  # type: ignore[index]
                assert time.monotonic() < deadline + 40  # well below the line: no flapping back to go
                await asyncio.sleep(0.5)

            async with s.get(f"{daemon.url}/consumers/shop") as r:  # the consumer page says it too
                page = await r.text()
                assert "<b style='color:#cf222e'>deploys on hold</b> · shop/availability: " in page
                assert "(rule: freeze_below: 90.0%)</span> — ask #sre before shipping" in page
            async with s.get(f"{daemon.url}/api/v1/consumers/shop/slos/availability/gate") as r:
                assert (await r.json())["decision"] == "hold"
            async with s.get(f"{daemon.url}/api/v1/consumers/shop/slos/nope/gate") as r:
                assert r.status == 404 and "no slo named 'nope'" in (await r.json())["error"]
            async with s.get(f"{url}?x=1") as r:
                assert r.status == 400

        text, as_json, wrong, nobody = await asyncio.gather(  # independent commands: at once
            gate_cli("--url", daemon.url, "--consumer", "shop", token=SHOP),
            gate_cli("--url", daemon.url, "--consumer", "shop", "--format", "json", token=SHOP),
            gate_cli("--url", daemon.url, "--consumer", "shop", token="wrong-token-0123456789"),
            gate_cli("--config", str(config), "--consumer", "nobody"),
        )
        code, out = text
        assert code == 1 and out.startswith("HOLD: shop/availability: ") and "ask #sre" in out, out
        code, out = as_json
        assert code == 1 and json.loads(out)["decision"] == "hold"
        code, out = wrong
        assert code == 2 and "403" in out
        code, out = nobody
        assert code == 2 and "no consumer named 'nobody'" in out
        deadline = time.monotonic() + 15  # the daemon persists its ledgers every 5 s: the database says it soon
        while True:
            code, out = await gate_cli("--config", str(config), "--consumer", "shop", "--slo", "availability")
            if (code == 1 and "below the 90.0% freeze line" in out) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        assert code == 1 and "below the 90.0% freeze line" in out, out
        assert await daemon.stop() == 0
    finally:
        if daemon.proc is not None and daemon.proc.returncode is None:
            daemon.proc.kill()
            await daemon.proc.wait()
