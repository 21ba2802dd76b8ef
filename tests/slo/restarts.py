"""Restart and kill -9 on a real SQLite file, for the SLO service tests: a store maker that closes what it
built, and the committed state of a database copied as a kill -9 leaves it."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from slowatch.clock import FakeClock
from slowatch.config.schema import RetentionConfig
from slowatch.store import Store
from tests.slo.helpers import T0

MakeStore = Callable[[Path], Store]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
async def make_store(clock: FakeClock) -> AsyncIterator[MakeStore]:
    built: list[Store] = []

    def make(path: Path) -> Store:
        # batches are written when flushed only: results stay uncommitted as long as a test wants
        store = Store(str(path), clock=clock, retention=RetentionConfig(), batch_interval=3600, close_timeout=2.0)
        built.append(store)
        return store

    yield make
    for store in built:
        await store.close()


def kill(db: Path, copy: Path) -> Path:
    """What a kill -9 now leaves: the committed state of `db`, as the file `copy`."""
    copy.unlink(missing_ok=True)
    src, dst = sqlite3.connect(db), sqlite3.connect(copy)
    src.backup(dst)
    src.close()
    dst.close()
    return copy
