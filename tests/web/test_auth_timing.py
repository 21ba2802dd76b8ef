"""The time a refused token takes says nothing about the consumer in the path (session h10 audit).

Before, a token was compared with the operator tokens plus the tokens of the consumer named in the path:
with 1,000 tokens for `checkout`, a wrong token on `/consumers/checkout` took ~0.3 ms longer than on
`/consumers/nosuch`, both answering 403: timing told which consumers exist, which the status code hides.
Now the token is hashed once and looked up among the digests of every token of the running config.
"""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp

from slowatch.config import load_text
from slowatch.daemon import Daemon

TOKENS = 1000
OPERATOR = "operator-token-0123456789abcdef"


def config_text(db: Path) -> str:
    tokens = ", ".join(f'"checkout-{i:06d}-0123456789abcdef"' for i in range(TOKENS))
    return f"""
server:
  listen: "127.0.0.1:0"
  database: "{db}"
  auth: {{operator_tokens: ["{OPERATOR}"]}}
endpoints:
  - {{name: pay, kind: http, url: "http://127.0.0.1:9/pay"}}
consumers:
  - name: checkout
    endpoints: [pay]
    access: {{tokens: [{tokens}]}}
    slos: [{{name: availability, sli: availability, objective: 99, window: 7d}}]
"""


async def test_a_refusal_takes_as_long_whether_or_not_the_consumer_exists(tmp_path: Path) -> None:
    daemon = Daemon(load_text(config_text(tmp_path / "timing.db")))
    await daemon.start(schedule=False)
    try:
        base = f"http://127.0.0.1:{daemon.bound_port}"
        headers = {"Authorization": "Bearer wrong-token-0123456789abcdef"}
        best = {"checkout": float("inf"), "nosuch": float("inf")}
        async with aiohttp.ClientSession() as s:
            for _ in range(300):  # interleaved, the fastest of each: what a patient attacker sees
                for name in best:
                    start = time.perf_counter()
                    async with s.get(f"{base}/api/v1/consumers/{name}", headers=headers) as r:
                        await r.read()
                        assert r.status == 403
                    best[name] = min(best[name], time.perf_counter() - start)
        gap = abs(best["checkout"] - best["nosuch"])
        assert gap < 40e-6, {k: f"{v * 1e6:.0f} us" for k, v in best.items()}
    finally:
        await daemon.stop()
