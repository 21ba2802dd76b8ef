"""Prober workers: the wire format, sharding and the `auto` worker count (the processes: tests/e2e)."""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
import struct
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from slowatch.config import load
from slowatch.config.diff import diff_endpoints
from slowatch.config.endpoints import HttpEndpoint
from slowatch.daemon import Daemon
from slowatch.models import Outcome, ProbeResult
from slowatch.phases import Phases
from slowatch.workers.pool import (
    AUTO_MAX_WORKERS,
    RESULTS_PER_STEP,
    START_CHUNK,
    ProberPool,
    shard_of,
    worker_count,
)
from slowatch.workers.protocol import MAX_FRAME, encode, pack_result, read_frame, unpack_result


def ep(name: str, interval: float = 10.0, enabled: bool = True) -> HttpEndpoint:
    return HttpEndpoint(
        name=name, kind="http", url="http://127.0.0.1:1/", interval=interval, timeout=1.0, enabled=enabled
    )


@pytest.mark.parametrize(
    "result",
    [
        ProbeResult(
            "api",
            "http",
            Outcome.SUCCESS,
            1_700_000_000.25,
            0.0123,
            status_code=200,
            phases={"connect": 0.001, "transfer": 0.0002},
            final_url="https://x/y",
        ),
        ProbeResult("db", "tcp", Outcome.TIMEOUT, 1.5, 5.0, "timed out after 5s", attempt=2, final=False),
        ProbeResult("tls", "tls", Outcome.CERTIFICATE_EXPIRING, 2.0, 0.1, "expires in 3d", cert_expiry=3e9),
        ProbeResult("edited", "http", Outcome.SUCCESS, 2.5, 0.1, status_code=200, revision=3),
    ],
)
def test_results_cross_the_wire_unchanged(result: ProbeResult) -> None:
    back = unpack_result(pickle.loads(pickle.dumps(pack_result(result))))
    assert back == result
    assert back.outcome is result.outcome


def test_the_daemon_side_shares_config_strings_and_keeps_phases_compact() -> None:
    endpoint = HttpEndpoint(name="api", kind="http", url="http://127.0.0.1:1/x", interval=10, timeout=1)
    sent = ProbeResult("api", "http", Outcome.SUCCESS, 1.5, 0.01, status_code=200, final_url="http://127.0.0.1:1/x",
                       phases={"connect": 0.001, "processing": 0.002, "transfer": 0.0})  # fmt: skip
    back = unpack_result(pickle.loads(pickle.dumps(pack_result(sent))), {"api": endpoint})
    assert back == sent and back.phases == sent.phases and dict(back.phases) == dict(sent.phases)
    assert back.endpoint is endpoint.name and back.final_url is endpoint.url
    assert isinstance(back.phases, Phases) and list(back.phases) == ["connect", "processing", "transfer"]
    assert back.phases["processing"] == 0.002 and "tls" not in back.phases and len(back.phases) == 3
    with pytest.raises(KeyError):
        back.phases["tls"]
    assert pickle.loads(pickle.dumps(back)) == sent  # Phases pickles as the dict it stands for
    other = unpack_result(pack_result(sent), {"api": endpoint})
    assert other.phases._keys is back.phases._keys  # one key tuple per shape
    redirected = unpack_result(pack_result(replace(sent, final_url="http://127.0.0.1:1/y")), {"api": endpoint})
    assert redirected.final_url == "http://127.0.0.1:1/y"


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
    assert worker_count("auto", [ep(f"e{i}", 60.0) for i in range(100_000)], cpus=2) == 1  # 1,667/s
    assert worker_count("auto", [ep(f"e{i}", 1.0) for i in range(2000)], cpus=8) == 1  # exactly 2,000/s
    busy = [ep(f"e{i}", 1.0) for i in range(2500)]  # 2,500 probes/s
    assert worker_count("auto", busy, cpus=2) == 2
    assert worker_count("auto", busy * 2, cpus=64) == 3
    assert worker_count("auto", busy * 4, cpus=64) == AUTO_MAX_WORKERS
    https = [HttpEndpoint(name=f"s{i}", kind="http", url="https://127.0.0.1:1/", interval=1.0, timeout=1.0)
             for i in range(700)]  # fmt: skip
    assert worker_count("auto", https, cpus=8) == 2  # 700 TLS handshakes/s weigh like 2,100 plain requests
    assert worker_count(0, large, cpus=8) == 0
    assert worker_count(3, small, cpus=1) == 3


class Sink:
    def __init__(self) -> None:
        self.results: list[ProbeResult] = []
        self.restarts = 0

    def pool(self, **kw: object) -> ProberPool:
        return ProberPool(
            1, on_result=self.results.append, observe_lag=lambda s: None, on_skipped=lambda n: None,
            on_missed=lambda n: None, max_concurrency=10, jitter=0.0, on_restart=self.count, **kw,  # type: ignore[arg-type]
        )  # fmt: skip

    def count(self) -> None:
        self.restarts += 1


async def wait_for(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_buffered_batches_are_handled_in_bounded_steps() -> None:
    """Frames already in the socket buffer (a worker that got ahead while the loop was held up) are handled a
    step at a time, never more than RESULTS_PER_STEP results: other callbacks (a /healthz request) run between."""
    sink = Sink()
    pool = sink.pool()
    result = pack_result(ProbeResult("a", "http", Outcome.SUCCESS, 1.0, 0.1))
    big, small = 2 * RESULTS_PER_STEP + 5, 3
    reader = asyncio.StreamReader()
    for n in (big, small):
        reader.feed_data(encode(("batch", [result] * n, [], [], [], 0)))
    reader.feed_eof()
    seen: list[int] = []

    async def watch() -> None:
        while len(sink.results) < big + small:
            seen.append(len(sink.results))
            await asyncio.sleep(0)

    watcher = asyncio.create_task(watch())
    await pool._read(pool._workers[0], reader)
    await watcher
    assert len(sink.results) == big + small
    steps = sorted(set(seen))
    assert steps == [RESULTS_PER_STEP, 2 * RESULTS_PER_STEP, big]  # the old reader: [] (all of it in one piece)


async def test_a_hung_worker_is_killed_and_restarted(caplog: pytest.LogCaptureFixture) -> None:
    sink = Sink()
    pool = sink.pool(silent_limit=2.0)
    await pool.start([ep("refused", 1.0)])  # nothing listens on port 1: quick connection_refused results
    await wait_for(lambda: bool(sink.results), 10)
    proc = pool._workers[0].proc
    assert proc is not None
    os.kill(proc.pid, signal.SIGSTOP)  # alive but silent: no heartbeat, no results
    await wait_for(lambda: sink.restarts == 1, 10)
    assert "prober worker silent, killing it index=0" in caplog.text
    await wait_for(lambda: pool.running, 10)
    seen = len(sink.results)
    await wait_for(lambda: len(sink.results) > seen, 10)  # the new worker probes the shard again
    assert await pool.stop(1.0) == 0
    assert proc.returncode == -signal.SIGKILL


async def test_a_large_shard_arrives_whole_in_chunks() -> None:
    """A shard bigger than START_CHUNK goes in "part" frames before "start": every endpoint is probed."""
    sink = Sink()
    pool = sink.pool()
    n = 2 * START_CHUNK + 1
    await pool.start([ep(f"e{i}", 4.0) for i in range(n)])  # connection refused at once: cheap probes
    try:
        await wait_for(lambda: len({r.endpoint for r in sink.results}) == n, 30)
    finally:
        await pool.stop(1.0)
    assert {r.endpoint for r in sink.results} == {f"e{i}" for i in range(n)}


async def test_a_reload_while_the_shard_goes_out_reaches_the_worker_after_it() -> None:
    """An update made while the chunks are being sent is held and sent after "start": no confused worker."""
    sink = Sink()
    pool = sink.pool()
    first = [ep(f"e{i}", 4.0) for i in range(2 * START_CHUNK + 1)]
    starting = asyncio.create_task(pool.start(first))
    for _ in range(10_000):
        if pool._workers[0].held is not None:
            break
        await asyncio.sleep(0)
    assert pool._workers[0].held is not None, "the shard went out before the test could reload"
    pool.update([*first[10:], ep("new", 4.0)])  # 10 endpoints gone, one added, mid-start
    await starting
    try:
        await wait_for(lambda: any(r.endpoint == "new" for r in sink.results), 30)
    finally:
        await pool.stop(1.0)
    assert sink.restarts == 0  # the worker took the update after its shard (it used to die on it)


async def test_a_reload_changing_many_endpoints_goes_out_in_chunks_and_what_follows_after_them() -> None:
    """A reload changing more than START_CHUNK endpoints is sent in START_CHUNK frames, one per loop step (one
    17 MB frame held the daemon's loop 4.5-5.5 s at 100,000 endpoints, and the worker's as long): every endpoint
    gets its new definition, and a reload made while the chunks go out reaches the worker after them."""
    sink = Sink()
    pool = sink.pool()
    first = [ep(f"e{i}", 4.0) for i in range(2 * START_CHUNK + 1)]
    await pool.start(first)
    try:
        await wait_for(lambda: bool(sink.results), 30)
        edited = [e.model_copy(update={"timeout": 0.5}) for e in first[5:]]  # 5 gone, every other one changed
        pool.update(edited, replace(diff_endpoints(first, edited), revision=5))
        assert pool._workers[0].outgoing is not None and len(pool._workers[0].outgoing) >= 2  # (chunks to go)
        added = [*edited, ep("late", 4.0)]
        pool.update(added, replace(diff_endpoints(edited, added), revision=6))  # while the chunks go out
        latest: dict[str, int] = {}
        read = [0]

        def caught_up() -> bool:
            for r in sink.results[read[0] :]:
                latest[r.endpoint] = max(latest.get(r.endpoint, 0), r.revision)
            read[0] = len(sink.results)
            return all(latest.get(e.name) == 5 for e in edited) and latest.get("late") == 6

        await wait_for(caught_up, 30)
        assert pool._workers[0].outgoing is None
    finally:
        await pool.stop(1.0)
    assert sink.restarts == 0


async def test_a_worker_killed_while_a_large_change_goes_out_gets_it_with_its_shard() -> None:
    sink = Sink()
    pool = sink.pool()
    first = [ep(f"e{i}", 4.0) for i in range(2 * START_CHUNK + 1)]
    await pool.start(first)
    try:
        await wait_for(lambda: bool(sink.results), 30)
        edited = [e.model_copy(update={"timeout": 0.5}) for e in first]
        pool.update(edited, replace(diff_endpoints(first, edited), revision=7))
        proc = pool._workers[0].proc
        assert proc is not None and pool._workers[0].outgoing is not None
        proc.kill()  # while its chunks go out
        await wait_for(lambda: sink.restarts == 1, 30)
        seen = len(sink.results)
        names = {e.name for e in first}
        await wait_for(lambda: {r.endpoint for r in sink.results[seen:] if r.revision == 7} == names, 30)
    finally:
        await pool.stop(1.0)


async def test_a_restarted_worker_probes_with_the_revisions_reloads_gave() -> None:
    """The reload's number reaches the worker with its changes and comes back on the results; a worker started
    again afterwards is given it with its shard (else the edited endpoint's results would read as older)."""
    sink = Sink()
    pool = sink.pool()
    await pool.start([ep("kept", 1.0), ep("edited", 1.0)])
    try:
        changes = diff_endpoints([ep("kept", 1.0), ep("edited", 1.0)], [ep("kept", 1.0), ep("edited", 1.5)])
        pool.update([], replace(changes, revision=4))
        seen = len(sink.results)
        await wait_for(lambda: any(r.endpoint == "edited" and r.revision == 4 for r in sink.results[seen:]), 10)
        proc = pool._workers[0].proc
        assert proc is not None
        proc.kill()
        await wait_for(lambda: sink.restarts == 1 and pool.running, 10)
        seen = len(sink.results)
        await wait_for(lambda: {r.endpoint for r in sink.results[seen:]} == {"kept", "edited"}, 10)
    finally:
        await pool.stop(1.0)
    assert {(r.endpoint, r.revision) for r in sink.results[seen:]} == {("kept", 0), ("edited", 4)}


async def test_stop_does_not_wait_out_a_restart_backoff() -> None:
    sink = Sink()
    pool = sink.pool()
    await pool.start([ep("refused", 1.0)])
    proc = pool._workers[0].proc
    assert proc is not None
    proc.kill()
    await wait_for(lambda: sink.restarts == 1, 10)  # now sleeping 1 s before the restart
    t0 = time.monotonic()
    await pool.stop(5.0)
    assert time.monotonic() - t0 < 2.0


async def test_reload_says_when_the_worker_count_would_change(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    def write(n: int) -> Path:
        eps = "\n".join(f"  - {{name: e{i}, kind: http, url: 'http://127.0.0.1:1/'}}" for i in range(n))
        path = tmp_path / "c.yaml"
        head = f"server: {{database: '{tmp_path / 'd.db'}'}}\ndefaults: {{interval: 10s}}\nendpoints:\n"
        path.write_text(head + eps + "\n")
        return path

    path = write(3)
    daemon = Daemon(await asyncio.to_thread(load, path), config_path=path, watch_interval=0)
    await daemon.start(serve=False)
    try:
        write(1500)  # 150 probes/s: "auto" would now use a worker
        assert await daemon.reload()
        assert "now means 1 prober worker(s), 0 running; takes effect after a restart" in caplog.text
    finally:
        await daemon.stop()
