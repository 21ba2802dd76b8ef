from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from slowatch.clock import FakeClock
from slowatch.config.schema import RetentionConfig
from slowatch.store import Store
from tests.store.helpers import T0, store_threads


@pytest.fixture(autouse=True)
def no_leftover_threads() -> Iterator[None]:
    yield
    deadline = time.monotonic() + 2.0
    while store_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store_threads() == []


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "history.db")


MakeStore = Callable[..., Store]


@pytest.fixture
async def make_store(db_path: str, clock: FakeClock) -> AsyncIterator[MakeStore]:
    """Builds stores with fast test settings; every store built is closed at the end."""
    built: list[Store] = []

    def make(path: str | None = None, **kw: Any) -> Store:
        kw.setdefault("clock", clock)
        kw.setdefault("retention", RetentionConfig())
        kw.setdefault("batch_interval", 0.02)
        kw.setdefault("max_backoff", 0.05)
        kw.setdefault("close_timeout", 2.0)
        store = Store(path or db_path, **kw)
        built.append(store)
        return store

    yield make
    for store in built:
        await store.close()


@pytest.fixture
async def store(make_store: MakeStore) -> Store:
    s = make_store()
    await s.start()
    await s.prune()  # the start-up retention pass is over: transaction counts are now ours alone
    return s
