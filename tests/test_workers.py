"""Prober workers: the wire format, sharding and the `auto` worker count (the processes: tests/e2e)."""

from __future__ import annotations

import asyncio
import pickle
import struct
from collections import Counter

import pytest

from slowatch.config.endpoints import HttpEndpoint
from slowatch.models import Outcome, ProbeResult
from slowatch.workers.pool import AUTO_MAX_WORKERS, shard_of, worker_count
from slowatch.workers.protocol import MAX_FRAME, encode, pack_result, read_frame, unpack_result


def ep(name: str, interval: float = 10.0, enabled: bool = True) -> HttpEndpoint:
    return HttpEndpoint(name=name, kind="http", url="http://127.0.0.1:1/", interval=interval, timeout=1.0,
                        enabled=enabled)


@pytest.mark.parametrize(
    "result",
    [
        ProbeResult("api", "http", Outcome.SUCCESS, 1_700_000_000.25, 0.0123, status_code=200,
                    phases={"connect": 0.001, "transfer": 0.0002}, final_url="https://x/y"),
        ProbeResult("db", "tcp", Outcome.TIMEOUT, 1.5, 5.0, "timed out after 5s", attempt=2, final=False),
        ProbeResult("tls", "tls", Outcome.CERTIFICATE_EXPIRING, 2.0, 0.1, "expires in 3d", cert_expiry=3e9),
    ],
)
def test_results_cross_the_wire_unchanged(result: ProbeResult) -> None:
    back = unpack_result(pickle.loads(pickle.dumps(pack_result(result))))
    assert back == result
    assert back.outcome is result.outcome


async def frames(data: bytes) -> list[tuple[object, ...]]:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    out = []
    while (message := await read_frame(reader)) is not None:
        out.append(message)
    return out


async def test_frames_round_trip_and_a_clean_end_is_none() -> None:
    messages = [("batch", [pack_result(ProbeResult("a", "http", Outcome.SUCCESS, 1.0, 0.1))], [0.001], [], [], 3),
                ("bye", 0)]  # fmt: skip
    assert await frames(b"".join(encode(m) for m in messages)) == messages


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (encode(("bye", 0))[:-2], "inside a frame"),
        (b"\x00\x00", "inside a frame header"),
        (struct.pack("!I", MAX_FRAME + 1), "larger than"),
        (struct.pack("!I", 4) + pickle.dumps(7)[:4].ljust(4, b"."), "undecodable frame"),
    ],
)
async def test_a_broken_stream_is_a_connection_error_not_a_hang(data: bytes, error: str) -> None:
    with pytest.raises(ConnectionError, match=error):
        await frames(data)


async def test_a_frame_that_is_not_a_message_is_refused() -> None:
    body = pickle.dumps([1, 2])
    with pytest.raises(ConnectionError, match="unexpected message list"):
        await frames(struct.pack("!I", len(body)) + body)


def test_shards_are_stable_and_spread() -> None:
    names = [f"svc-{i}" for i in range(4000)]
    assert [shard_of(n, 4) for n in names] == [shard_of(n, 4) for n in names]
    counts = Counter(shard_of(n, 4) for n in names)
    assert set(counts) == {0, 1, 2, 3}
    assert min(counts.values()) > 900


def test_auto_uses_workers_only_at_rate_and_with_cores() -> None:
    small = [ep(f"e{i}", 10.0) for i in range(300)]  # 30 probes/s
    large = [ep(f"e{i}", 10.0) for i in range(2000)]  # 200 probes/s
    disabled = [ep(f"e{i}", 1.0, enabled=False) for i in range(500)]
    assert worker_count("auto", small, cpus=8) == 0
    assert worker_count("auto", small + disabled, cpus=8) == 0
    assert worker_count("auto", large, cpus=1) == 0
    assert worker_count("auto", large, cpus=2) == 1  # 200 probes/s: one worker is plenty
    assert worker_count("auto", [ep(f"e{i}", 10.0) for i in range(10_000)], cpus=2) == 1  # exactly 1,000/s
    busy = [ep(f"e{i}", 1.0) for i in range(2500)]  # 2,500 probes/s
    assert worker_count("auto", busy, cpus=2) == 2
    assert worker_count("auto", busy, cpus=64) == 3
    assert worker_count("auto", busy * 4, cpus=64) == AUTO_MAX_WORKERS
    https = [HttpEndpoint(name=f"s{i}", kind="http", url="https://127.0.0.1:1/", interval=1.0, timeout=1.0)
             for i in range(700)]  # fmt: skip
    assert worker_count("auto", https, cpus=8) == 3  # 700 TLS handshakes/s weigh like 2,100 plain requests
    assert worker_count(0, large, cpus=8) == 0
    assert worker_count(3, small, cpus=1) == 3
