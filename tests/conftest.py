"""Hygiene for every test: a blocking call made by slowatch's code on a running event loop fails the test
(blockbuster), and pyproject's `timeout` bounds each test (pytest-timeout)."""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import AsyncIterator, Iterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from blockbuster import BlockBuster, blockbuster_ctx

ALLOWED = (
    ("slowatch/probes/certs.py", "get"),
    # SslContexts.get: an os.stat of the CA / client certificate files per HTTPS or TLS probe (µs on a local
    # disk), and the files' first load (then cached by inode, size, mtime and ctime). Known; see
    # benchmarks/README.md "Probe kinds".
    ("slowatch/probes/grpc_call.py", "_stamp"),
    # The same os.stat per gRPC probe with TLS files: its credentials are rebuilt when a file changes.
    ("slowatch/store/store.py", "close"),
    ("slowatch/store/store.py", "start"),
    # Store.close (and Store.start when the database cannot be opened) joins the writer thread after its
    # `done` future resolved (the thread is exiting), and shuts down the idle reader executor: bounded
    # waits of microseconds.
    ("slowatch/config/loader.py", "load"),
    ("slowatch/config/loader.py", "load_text"),
    ("slowatch/config/consumers.py", "_timezone"),  # Config.model_validate in a test: the tz database on disk
    ("slowatch/cli.py", "main"),
    ("slowatch/demo.py", "run_demo"),
    ("slowatch/alerting/cli.py", "alerts_report"),
    # Entry points and config loading, which run before the event loop (or in a thread: Daemon.reload) but
    # which tests call from async test functions.
    ("slowatch/store/schema.py", "migrate"),
    # Migrations run in the store's writer thread; tests build old-format databases with it from async tests.
    ("grpc_aio.pyx.pxi", "shutdown_grpc_aio"),
    # grpc.aio joins its poller thread when its last channel is freed: a ProbeContext keeps one idle channel
    # (probes/grpc.py) so this happens once, when a test's context is collected, not once per probe (and
    # the fixture below collects after each test, unguarded, so it never lands in a later test).
)
"""(file, function) pairs where slowatch's blocking calls are accepted, each with its reason."""


UNGROUPED = pytest.StashKey[bool]()
"""On a test of an xdist_group that pytest-xdist could not keep on one worker (see below)."""


@pytest.hookimpl(trylast=True)  # after xdist's own, which names each test's group in its id
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (`scripts/dev test`), the tests marked `slow` first, in their usual order otherwise:
    a worker that picks up a 40 s end-to-end test last keeps the other idle meanwhile, while short tests at the
    end even out. Every worker sorts its collection the same way (xdist needs identical collections).

    `--dist loadgroup` keeps a group on one worker only if xdist could name the group in the test's id: with
    pytest 9.2 it silently cannot (pytest-xdist #1386): those tests then fail, saying so, instead of overlapping."""
    if not hasattr(config, "workerinput"):
        return
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
    if config.getvalue("loadgroup"):
        for item in items:
            if item.get_closest_marker("xdist_group") and "@" not in item.nodeid:
                item.stash[UNGROUPED] = True


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.stash.get(UNGROUPED, False):
        pytest.fail(
            "--dist loadgroup: pytest-xdist did not keep this test's xdist_group on one worker: this pytest is too "
            "new for it (pytest-xdist #1386); install the pytest that pyproject.toml's test extra allows",
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def root_logging() -> Iterator[None]:
    """`slowatch run` or `demo` called in-process (cli.main) points the root logger at the stderr of that moment:
    the test's captured stderr, closed after it. A record logged later by whichever test then comes on that
    worker printed "--- Logging error --- ValueError: I/O operation on closed file" into the run's output.
    The handlers such a test added go, and the root level is restored (pytest's own come and go per phase)."""
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in before and type(handler) is logging.StreamHandler:
            root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture(autouse=True)
def blockbuster() -> Iterator[BlockBuster]:
    """Only calls made from `slowatch` count: test code may set up files and databases synchronously."""
    with blockbuster_ctx("slowatch") as bb:
        for function in bb.functions.values():
            for filename, name in ALLOWED:
                function.can_block_in(filename, name)
        yield bb
    if "grpc" in sys.modules:
        # grpc.aio joins its poller thread when its last channel is freed, from C code (no Python frame for
        # ALLOWED to match); a ProbeContext holding one sits in a reference cycle, so without this the
        # collector frees it, and blocks, in the middle of some later test.
        gc.collect()


@pytest.fixture(autouse=True)
def cyclic_gc(blockbuster: BlockBuster) -> Iterator[None]:
    """A daemon run in-process tunes the cyclic GC for the whole process, as it should when it owns one:
    `gc.freeze()` (Daemon.start, the first round of probes, a reload) and thresholds of (50,000, 20, 100)
    (`process.tune` via cli.main, Daemon.start). In pytest that process is the whole run: every later test ran with
    the tests' garbage frozen (never collected: a socket leaked in a cycle then never says so) and young
    collections 70 times rarer. After such a test everything goes back to the GC, which collects it now, so that
    what the test left behind is reported at its own teardown. (`blockbuster`, requested here, collects after
    this fixture's teardown too, when grpc was imported.)"""
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)
    if gc.get_freeze_count():
        gc.unfreeze()
        gc.collect()


@pytest.fixture
async def target() -> AsyncIterator[TestServer]:
    """A probe target on a loopback port: `GET /ok` answers 200 "ok"."""

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/ok", ok)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()
