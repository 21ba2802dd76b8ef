"""A real Prometheus (Debian's package) on a free loopback port, scraping slowatch with generated rules."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.e2e.harness import free_port


class PrometheusServer:
    """`prometheus` scraping `targets` every second and evaluating `rules` every second."""

    def __init__(self, binary: str, workdir: Path, targets: list[str], rules: str) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        (workdir / "rules.yml").write_text(rules)
        listed = ", ".join(f'"{t}"' for t in targets)
        (workdir / "prometheus.yml").write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "rule_files: [rules.yml]\n"
            f"scrape_configs:\n  - job_name: slowatch\n    static_configs: [{{targets: [{listed}]}}]\n"
        )
        self.log_path = workdir / "prometheus.log"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with open(self.log_path, "wb") as log:
            self.proc = await asyncio.create_subprocess_exec(
                self.binary, f"--config.file={self.workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.workdir / 'tsdb'}", f"--web.listen-address=127.0.0.1:{self.port}",
                stdout=log, stderr=log,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        async with aiohttp.ClientSession() as s:
            while time.monotonic() < deadline:
                try:
                    async with s.get(f"http://127.0.0.1:{self.port}/-/ready") as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        raise TimeoutError(f"prometheus not ready:\n{self.log()}")

    async def query(self, expr: str) -> list[dict[str, Any]]:
        return await self.query_at(expr, None)

    async def query_at(self, expr: str, ts: float | None) -> list[dict[str, Any]]:
        """`expr` at unix time `ts` (now when None)."""
        params = {"query": expr} if ts is None else {"query": expr, "time": repr(ts)}
        async with aiohttp.ClientSession() as s:
            url = f"http://127.0.0.1:{self.port}/api/v1/query"
            async with s.get(url, params=params) as r:
                doc = await r.json()
        assert doc["status"] == "success", (expr, doc)
        result: list[dict[str, Any]] = doc["data"]["result"]
        return result

    async def values(self, expr: str, *keys: str) -> dict[tuple[str, ...], float]:
        """`expr`'s instant vector as {(label values of `keys`): value}."""
        return {tuple(i["metric"].get(k, "") for k in keys): float(i["value"][1]) for i in await self.query(expr)}

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""
