"""`Store`: the event loop's handle on SQLite. Nothing here touches the database on the loop.

    record(result) / submit(op) / put_state(k, v)  -> deque -> writer thread (writer.py)
    read(fn) / get_state(k) / get_states(prefix)   -> one reader thread with its own connection

The writer and the reader each own a connection; the database is in WAL mode, so reads never
wait for writes. The reader's is a `ListedDatabase`: a few endpoints' recent raw rows are read by the ids the
writer listed for them (recent_ids.py), not by a scan of `results`. The writer commits raw results
(and incidents) per batch; `rollups`, `rollup_outcomes` and `latest` are folded from them every
`rollup_interval` seconds (store/fold.py; from what the writer kept of the rows it committed,
store/fold_memory.py),
so a read of those tables sees the results up to the last fold: at most `rollup_interval` old, or
everything recorded before an `await store.flush()` that returned. `healthy` is False while writes
are failing (shown on /readyz); `write_errors`, `dropped` and `pending` are meant for /metrics.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from sqlite_utils import Database

from slowatch.clock import Clock
from slowatch.config.schema import RetentionConfig
from slowatch.errors import StoreError
from slowatch.models import ProbeResult
from slowatch.store import queries
from slowatch.store.items import FlushMarker, Op, running_future
from slowatch.store.recent_ids import ListedDatabase
from slowatch.store.retention_clock import RetentionClock
from slowatch.store.schema import MIGRATIONS, Migration
from slowatch.store.writer import Writer

logger = logging.getLogger(__name__)

T = TypeVar("T")

_PUT_STATE = (
    "INSERT INTO state (key, value, updated) VALUES (?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated = excluded.updated"
)


def state_op(key: str, value: Any, now: float) -> Callable[[Database], None]:
    """A writer op storing the JSON-serialisable `value` under `key` in `state` (serialised here, on the
    caller's thread, so an unserialisable value fails there)."""
    params = (key, json.dumps(value), now)

    def put(db: Database) -> None:
        db.conn.execute(_PUT_STATE, params)

    return put


class Store:
    """Durable history. `record()` is O(1) and never blocks; see the module docstring.

    Tuning and test parameters beyond the public contract: `migrations` (defaults to
    schema.MIGRATIONS), `max_page_count` (caps the writer connection's database size: a test hook
    for "disk full"; also settable later with `set_max_page_count`), `busy_timeout` (seconds a
    transaction waits for a lock before failing), `max_backoff` (retry ceiling), `retention_interval`
    and `retention_batch` (rows per retention transaction), `max_batch` (items per write
    transaction), `close_timeout` (how long close() keeps retrying unwritten items) and
    `rollup_interval` (seconds of the Clock between folds of raw results into rollups and latest, and
    between passes of the pack step; 300 s: a fold costs per endpoint-hour touched, not per result, so at
    100,000 endpoints every 60 s a 60 s SQL fold cost 7.6 µs per result and a 300 s one 3.0 µs; a 300 s
    fold from the writer's memory 1.9 µs, plus ~1 µs per result to take the rows in, store/fold_memory.py;
    benchmarks/store_writer.py) and `pack_batch` (raw rows per pack transaction, see pack.py).

    `maintain` (default): this store owns the database: it holds its lock (owner.py: a second one fails
    to start, naming the holder), folds, packs and applies retention. `maintain=False` is for a command
    that only adds rows (ops) while a daemon may run: no lock, no catch-up or periodic fold (a flush
    does not fold either), no pack pass, no retention, and no up/down states loaded (it records no results).
    """

    def __init__(
        self, path: str, *, clock: Clock, retention: RetentionConfig, batch_interval: float = 0.5,
        max_pending: int = 1_000_000, observe_write: Callable[[float], None] | None = None,
        migrations: Sequence[Migration] = MIGRATIONS, max_page_count: int | None = None,
        busy_timeout: float = 5.0, max_backoff: float = 30.0, retention_interval: float = 60.0,
        retention_batch: int = 5_000, max_batch: int = 20_000, close_timeout: float = 10.0,
        rollup_interval: float = 300.0, pack_batch: int = 5_000, maintain: bool = True,
    ) -> None:  # fmt: skip
        self.path = path
        self._clock = clock
        self._busy_timeout = busy_timeout
        self._close_timeout = close_timeout
        self._writer = Writer(
            path, clock=clock, retention=retention, batch_interval=batch_interval,
            max_pending=max_pending, observe_write=observe_write, migrations=list(migrations),
            max_page_count=max_page_count, busy_timeout=busy_timeout, max_backoff=max_backoff,
            retention_interval=retention_interval, retention_batch=retention_batch, max_batch=max_batch,
            rollup_interval=rollup_interval, pack_batch=pack_batch, maintain=maintain,
        )  # fmt: skip
        self._reader: ThreadPoolExecutor | None = None
        self._read_db: Database | None = None
        self._started = self._closed = False

    async def start(self) -> None:
        """Open and migrate the database, fold raw results a killed run left unfolded (all on the writer
        thread, so rollups and `latest` are exact from here on), and start the reader."""
        if self._started:
            raise StoreError("store already started")
        self._started = True
        self._writer.thread.start()
        try:
            await asyncio.wrap_future(self._writer.ready)
        except StoreError:
            self._closed = True
            await asyncio.wrap_future(self._writer.done)
            self._writer.thread.join()
            raise
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="slowatch-store-reader")
        try:
            self._read_db = await asyncio.get_running_loop().run_in_executor(self._reader, self._open_reader)
        except sqlite3.Error as e:
            await self.close()
            raise StoreError(f"cannot open database {self.path} for reading: {e}") from e

    def _open_reader(self) -> Database:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
            conn.execute("PRAGMA query_only = 1")
            return ListedDatabase(conn, self._writer.recent, execute_plugins=False, recursive_triggers=False)
        except BaseException:
            conn.close()
            raise

    # -- writes: O(1), any thread -------------------------------------------------------------
    def record(self, result: ProbeResult) -> None:
        """Queue one attempt for writing. Dropped (and counted) only past `max_pending` or after close."""
        self._writer.put_result(result)

    def submit(self, op: Callable[[Database], object]) -> None:
        """Run `op(db)` inside the writer's next transaction, after everything queued before it.

        The return value is ignored. If the transaction fails (disk full, locked) it is rolled back
        and the whole batch, `op` included, runs again later: ops must keep their effects inside
        the database (or be safe to repeat). An op that raises anything else is a bug: it is
        logged with its traceback, counted in `rejected` and dropped; the batch is still written.
        """
        self._writer.put(Op(op))

    def submit_tracked(self, op: Callable[[Database], object]) -> Future[None]:
        """`submit`, returning a Future the writer thread resolves once `op`'s transaction committed (an
        exception if `op` was dropped, or lost at close). Poll `done()` from the event loop: no await needed."""
        committed: Future[None] = running_future()
        self._writer.put(Op(op, committed))
        return committed

    def put_state(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable value under `key` (via `submit`; `flush()` to await it)."""
        self.submit(state_op(key, value, self._clock.time()))

    def set_max_page_count(self, pages: int | None) -> None:
        """Test hook: cap (or with None, uncap) the database size from the next transaction."""
        self._writer.max_page_count = pages

    async def flush(self, *, fold: bool = True) -> None:
        """Return once everything recorded or submitted before this call is committed and folded into
        `rollups`, `rollup_outcomes` and `latest` (one fold in the same transaction as the last batch).

        Call it before reading those tables when they must include the very latest results; otherwise
        they lag the raw results by at most `rollup_interval`. `fold=False` only waits for the commit (a
        durable write: the alert outbox, saved SLO state): a fold of 100,000 endpoints costs the writer
        ~0.5 s of CPU, and every alert delivery waits for one such commit.
        """
        self._check_open()
        marker = FlushMarker(running_future(), fold)
        self._writer.put(marker)
        self._writer.wake()
        if self._writer.finished:  # the writer is gone: nothing will ever resolve the marker
            raise StoreError(f"store writer stopped (last error: {self.last_error})")
        await asyncio.wrap_future(marker.future)

    async def prune(self) -> dict[str, int]:
        """Run a full retention pass now (in ≤ retention_batch-row transactions); rows deleted per table.

        Raw results are deleted only once folded into the rollups (`await store.flush()` folds)."""
        self._check_open()
        fut: Future[dict[str, int]] = running_future()
        self._writer.retention.request(fut)
        self._writer.wake()
        if self._writer.finished:
            raise StoreError(f"store writer stopped (last error: {self.last_error})")
        return await asyncio.wrap_future(fut)

    # -- reads ---------------------------------------------------------------------------------
    async def read(self, fn: Callable[[Database], T]) -> T:
        """Run `fn(db)` in one read transaction on the reader thread; `fn` must return plain values."""
        self._check_open()
        assert self._reader is not None
        return await asyncio.get_running_loop().run_in_executor(self._reader, self._run_read, fn)

    def _run_read(self, fn: Callable[[Database], T]) -> T:
        db = self._read_db
        if db is None:
            raise StoreError("store is closed")
        try:
            db.conn.execute("BEGIN")
            try:
                return fn(db)
            finally:
                if db.conn.in_transaction:
                    db.conn.execute("ROLLBACK")
        except sqlite3.Error as e:
            raise StoreError(f"read from {self.path} failed: {type(e).__name__}: {e}") from e

    async def get_state(self, key: str) -> Any:
        return await self.read(lambda db: queries.get_state(db, key))

    async def get_states(self, prefix: str = "") -> dict[str, Any]:
        return await self.read(lambda db: queries.get_states(db, prefix))

    # -- lifecycle -----------------------------------------------------------------------------
    async def close(self, *, discard: bool = False, retry_for: float | None = None) -> None:
        """Write what is queued (retrying failed transactions for at most `retry_for` s, default `close_timeout`),
        stop both threads, close. `discard`: write nothing more (a statement in progress is interrupted;
        store/one_write.py).

        Transactions that commit go on past `retry_for` (what can be written is written); the writer is
        interrupted only once none committed for `retry_for` + 1 s while writes fail, or for
        max(`retry_for`, `close_timeout`) + 1 s while they succeed (a healthy transaction taking long, a big batch
        or the fold at close on a slow disk, is not cut short because the grace went on the SLO flush): at most
        that + busy_timeout + 1 s after the last commit even if a statement is stuck (a wait on a lock cannot be
        interrupted, hence busy_timeout). Unwritten items are logged.
        """
        if self._closed or not self._started:
            self._closed = True
            return
        self._closed = True
        writer = self._writer
        if discard:
            writer.abort()
        wait = self._close_timeout if retry_for is None else retry_for
        writer.stop(wait)
        done = asyncio.wrap_future(writer.done)
        transactions, since = writer.transactions, time.monotonic()
        pending = {done}
        while pending:
            allowed = max(wait, self._close_timeout) if writer.healthy else wait
            left = since + allowed + 1.0 - time.monotonic()
            if left <= 0:
                break
            _, pending = await asyncio.wait({done}, timeout=left)
            if writer.transactions != transactions:  # (one committed meanwhile: the wait starts again)
                transactions, since = writer.transactions, time.monotonic()
        if pending:  # stuck in a statement (e.g. waiting on a lock): interrupt it
            writer.abort()
            _, pending = await asyncio.wait({done}, timeout=self._busy_timeout + 1.0)
        if pending:
            logger.critical("store writer thread did not stop: path=%s", self.path)
        else:
            writer.thread.join()
        if self._reader is not None:
            if self._read_db is not None:
                self._read_db.conn.interrupt()
            await asyncio.get_running_loop().run_in_executor(self._reader, self._close_reader)
            self._reader.shutdown(wait=True)  # its only thread is idle now: this returns at once
        logger.info(
            "store closed: path=%s committed=%d write_errors=%d dropped=%d",
            self.path, writer.committed, writer.write_errors, writer.dropped,
        )  # fmt: skip

    def _close_reader(self) -> None:
        db, self._read_db = self._read_db, None
        if db is None:
            return
        try:
            if self._writer.maintain and self._writer.done.done():
                self._checkpoint(db.conn)
        finally:
            db.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        """Move the `-wal` into the database file: the last connection to close does it, and that is this
        one, but as a `query_only` connection it could not, so the history stayed in `-wal` (a copy of the
        file alone after a clean stop, or a `-wal` deleted as a leftover, had none of it)."""
        try:
            conn.execute("PRAGMA query_only = 0")
            # no wait: TRUNCATE waits (busy_timeout) for every other process's reader to finish; without the
            # wait it copies what no reader still needs and leaves the rest in -wal (read at the next start)
            conn.execute("PRAGMA busy_timeout = 0")
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.Error as e:  # (a full disk: the -wal keeps it all, and the next start reads it)
            logger.warning("store: checkpoint at close failed, history stays in the -wal: path=%s error=%s: %s",
                           self.path, type(e).__name__, e)  # fmt: skip
            return
        if busy:  # another process reads it (report, gate, a backup tool): its last connection checkpoints
            logger.info("store: checkpoint at close left to a reader of another process: path=%s", self.path)

    def _check_open(self) -> None:
        if not self._started:
            raise StoreError("store not started")
        if self._closed:
            raise StoreError("store is closed")

    # -- health and counters -------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Items queued or in a transaction that has not committed yet."""
        return len(self._writer.queue) + self._writer.inflight

    @property
    def healthy(self) -> bool:
        w = self._writer
        return self._started and not self._closed and w.healthy and w.thread.is_alive()

    @property
    def retention_behind(self) -> float:
        """Seconds the wall clock is ahead of the time retention deletes by (0 unless it jumped ahead:
        retention_clock.py)."""
        return self._writer.retention.time.behind

    def deletion_clock(self) -> RetentionClock:
        """A RetentionClock for another deleter, on the caller's thread: where retention's is now (a clock that jumped
        ahead is held back for both; retention logs it). Call it after `start`."""
        time = RetentionClock(self._clock, what="")
        time.follow(self._writer.retention.time)
        return time

    @property
    def last_error(self) -> str | None:
        return self._writer.last_error

    @property
    def dropped(self) -> int:
        return self._writer.dropped

    @property
    def write_errors(self) -> int:
        return self._writer.write_errors

    @property
    def rejected(self) -> int:
        """Submitted ops that raised and malformed results (bugs upstream): logged and dropped."""
        return self._writer.rejected

    @property
    def committed(self) -> int:
        """Results committed since start."""
        return self._writer.committed

    @property
    def rollup_watermark(self) -> int:
        """The highest results.id folded into rollups/latest, as of the last fold this store committed."""
        return self._writer.folds.watermark

    @property
    def packed(self) -> int:
        """Raw results packed into result_blocks since start (pack.py)."""
        return self._writer.packs.packed

    @property
    def transactions(self) -> int:
        """Write transactions committed since start (batches and retention)."""
        return self._writer.transactions


__all__ = ["Store"]
