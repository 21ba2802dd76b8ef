"""The one writer thread: queue -> batched SQLite transactions, retention, retry with backoff.

Items (ProbeResults, submitted ops, flush markers) are appended to a deque by any thread;
`deque.append` and `len` are atomic, so enqueueing is O(1) and never waits for the writer. Every
`batch_interval` (or at once when a flush asks) the writer takes up to `max_batch` items and
writes them in ONE `BEGIN IMMEDIATE` transaction, in order (raw rows and incidents; rollups, outcome
counts and `latest` are folded from raw rows every `rollup_interval`, in a batch with a flush marker,
at close, and at open first: fold.py; normally from what the writer accumulated from the rows it
committed, `_committed`: fold_memory.py; then packed: pack.py; the rows' ids are listed per endpoint for the
readers: recent_ids.py). A failed transaction (disk full, locked
past `busy_timeout`, I/O error) is rolled back, counted, turns the store unhealthy and is
retried with exponential backoff up to `max_backoff`; the batch is kept (the log says so once, with the
cause, then at most once a minute, and "resumed" once every kind of transaction that failed commits again:
write_health.py; a failed retention or pack step backs off on its own: step_backoff.py). So is a transaction
refused because the path no longer names the file the writer opened (deleted, moved, replaced:
identity.py). An op submitted with a `committed` future (Store.submit_tracked) has it resolved after
the COMMIT (with an exception when it is dropped, or lost at close). A submitted op that raises
a non-environmental error (a bug in the op) is logged with its traceback, counted in `rejected`,
dropped, and the rest of the batch is retried at once.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from functools import partial

from sqlite_utils import Database

from slowatch.clock import Clock
from slowatch.config.schema import RetentionConfig
from slowatch.errors import StoreError
from slowatch.models import ProbeResult
from slowatch.store.fold import FoldSchedule
from slowatch.store.fold_memory import FoldMemory
from slowatch.store.identity import FileIdentity
from slowatch.store.items import BadOp, FlushMarker, Item, Op, T, is_environmental, running_future
from slowatch.store.owner import DatabaseLock, one_name
from slowatch.store.pack import Pack, oldest_due
from slowatch.store.recent_ids import RecentIds
from slowatch.store.results import Written, fast_binding, load_states, write_results
from slowatch.store.retention import Retention
from slowatch.store.schema import Migration, check_identity, migrate, open_error, wal_mode
from slowatch.store.step_backoff import MIN_BACKOFF, StepBackoff
from slowatch.store.updown import StateCache
from slowatch.store.write_health import WriteHealth

logger = logging.getLogger(__name__)
JOURNAL_SIZE_LIMIT = 16 * 1024 * 1024
"""Bytes the `-wal` file is cut back to when SQLite restarts it after a checkpoint. Without it, the
file stays at its high-water mark until close (74 MB after a 1,000,000-result catch-up at 200 endpoints,
benchmarks/README.md "WAL after a catch-up"); 16 MB is above the steady state (autocheckpoint at 1000
pages: ~4 MB plus a batch), so normal running never truncates and re-grows it."""


class Writer:
    def __init__(
        self, path: str, *, clock: Clock, retention: RetentionConfig, batch_interval: float,
        max_pending: int, observe_write: Callable[[float], None] | None, migrations: Sequence[Migration],
        max_page_count: int | None, busy_timeout: float, max_backoff: float,
        retention_interval: float, retention_batch: int, max_batch: int, rollup_interval: float, pack_batch: int,
        maintain: bool = True,
    ) -> None:  # fmt: skip
        fast_binding()
        self.path = path
        self.queue: deque[Item] = deque()
        self.inflight = 0  # items taken from the queue and not yet committed
        self.max_pending = max_pending
        self.max_page_count = max_page_count  # test hook: applied before the next transaction
        self.dropped = self.write_errors = self.rejected = self.transactions = self.committed = 0
        self.finished = False
        self.health = WriteHealth(path)  # healthy, last_error, and the log lines about failing writes
        self.ready: Future[None] = running_future()
        self.done: Future[None] = running_future()
        self.retention = Retention(clock, retention, interval=retention_interval, batch=retention_batch)
        self.folds = FoldSchedule(clock, rollup_interval, path=path, memory=FoldMemory())
        self.packs = Pack(clock, pack_after=retention.pack_after, interval=rollup_interval, batch=pack_batch, path=path)
        self._retention_retry, self._pack_retry = StepBackoff(max_backoff), StepBackoff(max_backoff)
        self._fold_retry = StepBackoff(max_backoff)
        self.recent = RecentIds()  # where each endpoint's rows are in `results`, for the readers (recent_ids.py)
        self._batch_interval, self._max_batch, self._max_backoff = batch_interval, max_batch, max_backoff
        self._busy_timeout, self._migrations, self._observe = busy_timeout, migrations, observe_write
        self._wake, self._stop, self._abort = threading.Event(), threading.Event(), threading.Event()
        self._drop_lock, self._deadline = threading.Lock(), math.inf
        self._states: dict[str, str] = {}
        self._cache = StateCache(self.recent, self._states)  # the committed states by endpoint number (updown.py)
        self._db: Database | None = None
        self._page_count_applied: int | None = None
        self._default_page_count = self._dropped_logged = 0
        self.maintain = maintain  # folds, packs, retention and the database's lock (owner.py); else ops only
        self._lock = DatabaseLock(path)
        self._file = FileIdentity(path)  # the path still names the file opened (identity.py)
        self.thread = threading.Thread(target=self._run, name="slowatch-store-writer", daemon=True)

    @property
    def healthy(self) -> bool:
        return self.health.healthy

    @property
    def last_error(self) -> str | None:
        return self.health.last_error

    # -- any thread ---------------------------------------------------------------------------
    def put_result(self, result: ProbeResult) -> None:
        if len(self.queue) + self.inflight >= self.max_pending or self._stop.is_set():
            with self._drop_lock:
                self.dropped += 1  # the writer thread logs it; no I/O on the caller's thread
            return
        self.queue.append(result)

    def put(self, item: Op | FlushMarker) -> None:
        """Ops and markers are never dropped: other layers' state must not vanish silently."""
        self.queue.append(item)

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float) -> None:
        """Write what is queued (retrying until `timeout` seconds from now), then exit."""
        self._deadline = time.monotonic() + timeout
        self._stop.set()
        self._wake.set()

    def abort(self) -> None:
        """Give up now: end any backoff wait and interrupt a statement in progress."""
        self._deadline = -math.inf
        self._abort.set()
        self.packs.interrupt()  # (a pass's sort runs on a connection of its own)
        if (db := self._db) is not None:
            db.conn.interrupt()

    # -- writer thread -------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            if self.maintain:
                self._lock.acquire()
            else:  # (acquire checks it under the lock)
                one_name(self.path)
            self._db = self._open()
        except BaseException as e:
            self._lock.release()
            err = open_error(self.path, e)  # (a damaged file: what to do)
            self.health.crashed(str(err))
            self.finished = True
            self.ready.set_exception(err)
            self.done.set_result(None)
            return
        self.ready.set_result(None)
        try:
            self._loop(self._db)
        except BaseException as e:  # a bug: make it loud and visible on /readyz
            logger.exception("store writer crashed: path=%s", self.path)
            self.health.crashed(f"writer crashed: {type(e).__name__}: {e}")
        finally:
            self._finish()

    def _open(self) -> Database:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
            db = Database(conn, execute_plugins=False)
            check_identity(conn, self.path)  # another program's file: refused before WAL rewrites its header
            mode = wal_mode(conn, self._busy_timeout)  # (retried: another process may be creating the file)
            if str(mode).lower() != "wal":
                logger.warning("store: WAL not available, journal_mode=%s path=%s", mode, self.path)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
            self._file.remember()
            self._default_page_count = int(conn.execute("PRAGMA max_page_count").fetchone()[0])
            applied = migrate(db, self._migrations, path=self.path, upgrade=self.maintain)  # (schema.py)
            self.recent.start(conn)
            if applied:
                logger.info("store: applied %d migration(s): path=%s", applied, self.path)
            if self.maintain:  # (a store with maintain=False records no results: it needs neither)
                self.retention.start(db)  # (before any new result: the time the last run's retention went by)
                self.folds.catch_up(lambda fn: self._transact(db, fn, "fold"))  # failed: load_states sees unfolded rows
                self._states = load_states(db)
                self._cache = StateCache(self.recent, self._states)
            return db
        except BaseException:
            conn.close()
            raise

    def _loop(self, db: Database) -> None:
        kept: list[Item] = []
        backoff = 0.0
        while True:
            self._report_drops()
            if not kept:
                kept = self._drain()
            if kept:
                if self._commit(db, kept):
                    kept, backoff = [], 0.0
                elif self._stop.is_set() and time.monotonic() >= self._deadline:
                    self.queue.extendleft(reversed(kept))  # counted as lost by _finish()
                    break
                else:
                    backoff = min(self._max_backoff, max(backoff * 2, MIN_BACKOFF))
                    self._abort.wait(min(backoff, max(0.0, self._deadline - time.monotonic())))
                    continue
            if self._stop.is_set():
                if not self.queue:
                    if self.maintain and not self._abort.is_set():  # fold the rest (aborted: at the next start)
                        self.folds.run(lambda fn: self._transact(db, fn, "fold"))
                    break
                continue
            if not self.maintain:
                self._wake.wait(self._batch_interval)
                self._wake.clear()
                continue
            failures = self._failures  # a failed step is retried after a backoff of its own (step_backoff.py)
            self._retention_retry.run(
                lambda: self.retention.tick(lambda fn: self._transact(db, fn, "retention")), failures
            )
            if self.folds.due or self.folds.failed:
                self._fold_retry.run(lambda: self.folds.run(lambda fn: self._transact(db, fn, "fold")), failures)
            passes = self.packs.passes
            self._pack_retry.run(
                lambda: self.packs.tick(
                    lambda fn: self._transact(db, fn, "pack"), lambda cutoff: oldest_due(db, cutoff)
                ),
                failures,
            )
            if self.packs.passes != passes:  # a pass deleted what it packed: drop those ids (recent_ids.py)
                self.recent.prune(db.conn)
            steps = (
                (self.retention.busy, self._retention_retry), (self.packs.busy, self._pack_retry),
                (self.folds.failed, self._fold_retry),
            )  # fmt: skip
            if len(self.queue) >= self._max_batch or any(busy and not retry.waiting for busy, retry in steps):
                continue
            retry_at = min((retry.retry_at for busy, retry in steps if busy), default=math.inf)
            self._wake.wait(max(0.0, min(self._batch_interval, retry_at - time.monotonic())))
            self._wake.clear()

    def _failures(self) -> int:
        return self.write_errors

    def _drain(self) -> list[Item]:
        n = min(len(self.queue), self._max_batch)
        self.inflight = n  # counted before popping, so `pending` never under-reports
        popleft = self.queue.popleft
        return [popleft() for _ in range(n)]

    def _commit(self, db: Database, batch: list[Item]) -> bool:
        while True:
            changes: dict[str, str] = {}  # this transaction's up/down changes over self._states
            self._cache.begin()
            asked = any(isinstance(item, FlushMarker) and item.fold for item in batch)
            fold_now = self.maintain and (self.folds.due or asked)
            written: list[Written] = []
            write = partial(self._write, batch=batch, states=changes, committed=self._states, written=written,
                            fold=self.folds.fold if fold_now else None, cache=self._cache)  # fmt: skip
            sources = ("batch", "fold") if fold_now else ("batch",)  # (a batch that folds: the fold works too)
            try:
                rejected, marks = self._transact(db, write, *sources, raise_errors=True) or (0, None)
            except BadOp as bad:
                logger.error("store: a submitted write failed and was dropped: op=%r", bad.op.fn,
                             exc_info=bad.__cause__)  # fmt: skip
                self.rejected += 1
                if bad.op.committed is not None:
                    bad.op.committed.set_exception(StoreError("the op failed and was dropped"))
                batch.remove(bad.op)
                self.inflight -= 1
                continue
            except Exception:
                return False
            self._states.update(changes)
            self._cache.commit()
            self._committed(written)
            if marks is not None:
                self.folds.folded(marks[1])
            self.rejected += rejected
            self.committed += sum(1 for item in batch if isinstance(item, ProbeResult)) - rejected
            self.inflight = 0
            for item in batch:
                if isinstance(item, FlushMarker):
                    item.future.set_result(None)
                elif isinstance(item, Op) and item.committed is not None:
                    item.committed.set_result(None)
            return True

    def _committed(self, written: list[Written]) -> None:
        """The rows of a batch's transaction were committed (their ids and values). Their endpoints were numbered
        before they were written (updown.py): the list of ids keeps those numbers and the fold memory finds its
        slots by them (one lookup by name per row, not three)."""
        self.folds.committed(written, self.recent.add(written, self._cache.runs))

    @staticmethod
    def _write(db: Database, batch: list[Item], states: dict[str, str], committed: dict[str, str],
               fold: Callable[[Database], tuple[int, int]] | None,
               written: list[Written], cache: StateCache) -> tuple[int, tuple[int, int] | None]:  # fmt: skip
        """Write the batch in order, then fold if asked; return (malformed results skipped, fold marks).
        `states` gets the up/down changes over `committed`; `written` the rows inserted, with their ids
        (results.write_results)."""
        run: list[ProbeResult] = []
        rejected = 0
        for item in batch:
            if isinstance(item, ProbeResult):
                run.append(item)
            elif isinstance(item, Op):
                if run:
                    rejected += write_results(db, run, states, written, committed=committed, cache=cache)
                    run = []
                try:
                    item.fn(db)
                except Exception as e:
                    if is_environmental(e):
                        raise
                    raise BadOp(item) from e
        if run:
            rejected += write_results(db, run, states, written, committed=committed, cache=cache)
        return rejected, None if fold is None else fold(db)

    def _transact(
        self, db: Database, fn: Callable[[Database], T], *sources: str, raise_errors: bool = False
    ) -> T | None:
        """Run `fn` in one transaction. On failure: roll back, log, count, mark `sources[0]` failing; committed:
        `sources` work again (write_health.py)."""
        conn = db.conn
        started = time.perf_counter()
        try:
            self._file.check()
            self._apply_page_limit(conn)
            conn.execute("BEGIN IMMEDIATE")
            try:
                value = fn(db)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except BadOp:
            raise
        except Exception as e:
            self.write_errors += 1
            self.health.failed(sources[0], f"{type(e).__name__}: {e}", len(self.queue) + self.inflight)
            if raise_errors:
                raise
            return None
        elapsed = time.perf_counter() - started
        self.transactions += 1
        for source in sources:
            self.health.committed(source, len(self.queue))
        if self._observe is not None:
            try:
                self._observe(elapsed)
            except Exception:
                logger.exception("store: observe_write callback failed")
        return value

    def _apply_page_limit(self, conn: sqlite3.Connection) -> None:
        want = self.max_page_count
        if want != self._page_count_applied:
            conn.execute(f"PRAGMA max_page_count = {int(want or self._default_page_count)}")
            self._page_count_applied = want

    def _report_drops(self) -> None:
        dropped = self.dropped
        if dropped != self._dropped_logged:
            logger.error("store queue full (max_pending=%d): dropped %d results, %d in total; last_error=%r",
                         self.max_pending, dropped - self._dropped_logged, dropped, self.last_error)  # fmt: skip
            self._dropped_logged = dropped

    def _finish(self) -> None:
        self.finished = True  # set before taking the queue: see Store.flush()
        lost = [*self.queue]
        self.queue.clear()
        self.inflight = 0
        if n_lost := sum(1 for item in lost if not isinstance(item, FlushMarker)):
            logger.error("store closed with %d unwritten items: last_error=%r path=%s",
                         n_lost, self.last_error, self.path)  # fmt: skip
        error = StoreError(f"store closed with {n_lost} unwritten items (last error: {self.last_error})")
        for item in lost:
            if isinstance(item, FlushMarker):
                item.future.set_exception(error)
            elif isinstance(item, Op) and item.committed is not None:
                item.committed.set_exception(error)
        self.retention.fail_waiters(StoreError("store closed"))
        self._report_drops()
        self.packs.close()  # (its read connection)
        if self._db is not None:
            self._db.close()
        self._lock.release()
        self.done.set_result(None)


__all__ = ["Writer"]
