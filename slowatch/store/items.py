"""What travels from the event loop to the writer thread, and how writer errors are classified."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TypeVar

from sqlite_utils import Database

from slowatch.models import ProbeResult

T = TypeVar("T")
# Primary SQLite result codes caused by the environment, not by the SQL: BUSY, LOCKED, NOMEM,
# READONLY, INTERRUPT, IOERR, CORRUPT, FULL, CANTOPEN, PROTOCOL, NOTADB.
_ENVIRONMENTAL = frozenset({5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 26})


def is_environmental(e: BaseException) -> bool:
    if isinstance(e, sqlite3.Error):
        code = getattr(e, "sqlite_errorcode", None)
        return isinstance(e, sqlite3.OperationalError) if code is None else (code & 0xFF) in _ENVIRONMENTAL
    return isinstance(e, (OSError, MemoryError))


@dataclass(eq=False, slots=True)
class Op:
    fn: Callable[[Database], object]
    # resolved by the writer thread once the transaction that ran `fn` committed (an exception: dropped)
    committed: Future[None] | None = None


@dataclass(eq=False, slots=True)
class FlushMarker:
    future: Future[None]
    fold: bool = True  # fold in the same transaction (False: only wait for the commit)


Item = ProbeResult | Op | FlushMarker


class BadOp(Exception):
    """A submitted op raised a non-environmental error: a bug in the op, not in the database."""

    def __init__(self, op: Op) -> None:
        self.op = op


def running_future() -> Future[T]:
    """A Future already marked running, so a cancelled awaiter cannot make set_result() raise."""
    fut: Future[T] = Future()
    fut.set_running_or_notify_cancel()
    return fut


__all__ = ["BadOp", "FlushMarker", "Item", "Op", "is_environmental", "running_future"]
