"""`result_blocks` for benchmarks/dbgen.py: 48 h of packed raw results for N endpoints in seconds."""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Callable

from slowatch.store.blocks import BLOCK, encode

SAMPLE_ENDPOINTS = 1000
SAMPLE_BLOCKS = 16


def packed_blocks(
    conn: sqlite3.Connection, step: Callable[..., None], *, n: int, interval: float, since: float, until: float
) -> None:
    """`result_blocks` for every endpoint and 10-minute block in [since, until), time-major like the pack
    step writes them. The blobs are real encodings (slowatch.store.blocks.encode) of generated rows shaped
    like dbgen's `results` rows: one per (endpoint mod 1000, block mod 16), reused across endpoints and
    blocks (their sizes are those of distinct blocks; encoding 2.9 M blocks in Python would take minutes)."""
    rng = random.Random(7)
    per = max(1, round(BLOCK / interval))
    conn.execute("CREATE TEMP TABLE sample (s INTEGER PRIMARY KEY, n INTEGER, last REAL, data BLOB)")
    rows = []
    for j in range(min(n, SAMPLE_ENDPOINTS)):
        fail = j % 100 == 0
        for b in range(SAMPLE_BLOCKS):
            phase = ((j * 7919) % 30000) / 30000.0 * min(interval, BLOCK / per)
            block = [(None, phase + i * interval + rng.random() * 0.005, f"ep-{j:06d}", "http",
                      "http_status" if fail else "success", 0.0005 + rng.random() * 0.004, 500 if fail else 200,
                      "expected status 200, got 500" if fail else "", 1, 1,
                      json.dumps({"connect": rng.random() / 1e4 + 1e-4, "processing": rng.random() / 1e3 + 2e-4,
                                  "transfer": rng.random() / 1e5 + 1e-5}, separators=(",", ":")),
                      None, f"http://127.0.0.1:{33000 + j % 8}/{'fail' if fail else 'fast'}/{j}")
                     for i in range(per) if phase + i * interval < BLOCK]  # fmt: skip
            last, blob = encode(0, block)
            rows.append((j * SAMPLE_BLOCKS + b, len(block), last, blob))
    conn.executemany("INSERT INTO sample VALUES (?, ?, ?, ?)", rows)
    first = int(since // BLOCK) * BLOCK + BLOCK
    count = max(0, int((until - first) // BLOCK))
    step(
        "result_blocks",
        f"""WITH RECURSIVE t(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM t WHERE k + 1 < {count}),
        e(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM e WHERE j + 1 < {n})
        INSERT INTO result_blocks (endpoint, start, end, n, data)
        SELECT printf('ep-%06d', j), ?1 + k * {BLOCK}, ?1 + k * {BLOCK} + s.last, s.n, s.data
        FROM t, e JOIN sample AS s ON s.s = (j % {SAMPLE_ENDPOINTS}) * {SAMPLE_BLOCKS} + k % {SAMPLE_BLOCKS}
        ORDER BY k, j""",
        (first,),
    )


__all__ = ["packed_blocks"]
