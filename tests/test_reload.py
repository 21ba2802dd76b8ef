"""Config reload under bad input (issue #10): whatever the new file holds, the running config stays,
the failure is reported, and the file watcher goes on to pick up the next good edit."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from slowatch.config import Config, load
from slowatch.daemon import Daemon
from slowatch.reload import ConfigReloader, ReloadOutcome

RELOAD_OK = "slowatch_config_last_reload_successful"


def config_text(tmp_path: Path, *names: str, interval: str = "10s") -> str:
    endpoints = "".join(f"  - {{name: {n}, kind: http, url: 'http://127.0.0.1:1/{n}'}}\n" for n in names)
    return f"server: {{database: '{tmp_path / 'd.db'}'}}\ndefaults: {{interval: {interval}}}\nendpoints:\n{endpoints}"


async def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def names(daemon: Daemon) -> list[str]:
    return [ep.name for ep in daemon.config.endpoints]


def reload_ok(daemon: Daemon) -> float | None:
    return daemon.registry.get_sample_value(RELOAD_OK)


@pytest.fixture
async def watched(tmp_path: Path) -> AsyncIterator[tuple[Daemon, Path]]:
    """A daemon probing (a refused loopback port, every 10 s) and watching its config file every 50 ms."""
    path = tmp_path / "slowatch.yaml"
    path.write_text(config_text(tmp_path, "first"))
    daemon = Daemon(load(path), config_path=path, watch_interval=0.05, watch_settle=0.05)
    await daemon.start(serve=False)
    try:
        yield daemon, path
    finally:
        await daemon.stop()


@pytest.mark.parametrize("bad", ["interval: .nan", "interval: .inf", "timeout: .inf", "interval: 99999999999999d"])
async def test_a_bad_number_is_rejected_and_the_next_good_edit_is_picked_up(
    watched: tuple[Daemon, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture, bad: str
) -> None:
    daemon, path = watched
    text = config_text(tmp_path, "first", "second")
    path.write_text(text.replace("defaults: {interval: 10s}", f"defaults: {{{bad}}}"))
    await eventually(lambda: reload_ok(daemon) == 0.0)
    assert names(daemon) == ["first"]  # the running config stays
    assert f"{path}:2:" in caplog.text and "defaults." in caplog.text and "config reload rejected" in caplog.text

    path.write_text(config_text(tmp_path, "first", "third"))
    await eventually(lambda: names(daemon) == ["first", "third"] and reload_ok(daemon) == 1.0)


async def test_a_fifo_in_place_of_the_file_is_refused_without_blocking(
    watched: tuple[Daemon, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    daemon, path = watched
    good = tmp_path / "good.yaml"
    good.write_text(config_text(tmp_path, "first", "second"))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    path.unlink()
    path.symlink_to(fifo)  # nobody ever writes to it: opening it for reading would block for good
    await eventually(lambda: reload_ok(daemon) == 0.0)
    assert "is a FIFO (named pipe), not a regular file" in caplog.text
    assert names(daemon) == ["first"]

    path.unlink()
    path.symlink_to(good)
    await eventually(lambda: names(daemon) == ["first", "second"] and reload_ok(daemon) == 1.0)


async def test_a_deleted_file_is_reported_once_and_its_return_reloaded(
    watched: tuple[Daemon, Path], caplog: pytest.LogCaptureFixture
) -> None:
    """A file the watcher cannot open (deleted; unreadable to the daemon's user after a deploy) was
    skipped without a word: an edit the daemon could not read was never applied, and nothing said so."""
    daemon, path = watched
    text = path.read_text()
    path.unlink()
    await eventually(lambda: reload_ok(daemon) == 0.0)
    await asyncio.sleep(0.5)  # ten more checks of the missing file
    assert caplog.text.count("config reload rejected") == 1
    assert f"{path}: cannot read the file: No such file or directory" in caplog.text
    assert names(daemon) == ["first"]

    path.write_text(text)  # back as it was: nothing to change, but the file is read again
    await eventually(lambda: reload_ok(daemon) == 1.0)
    assert names(daemon) == ["first"] and caplog.text.count("config reload rejected") == 1


def reloads(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(("config reloaded", "config reload "))]


async def test_a_file_written_in_place_is_reloaded_whole_never_empty_or_cut_short(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`open(path, "w")` truncates, then the text comes in more than one write (a large file, a slow
    writer): the watcher used to load the empty file (an error) and the first part (valid YAML that
    dropped the endpoints not yet written: their probes stopped, their series left /metrics)."""
    path = tmp_path / "slowatch.yaml"
    caplog.set_level(logging.INFO, "slowatch")
    path.write_text(config_text(tmp_path, "first", "second", "third"))
    daemon = Daemon(load(path), config_path=path, watch_interval=0.05)  # the default settle time (1 s)
    await daemon.start(serve=False)
    try:
        whole = config_text(tmp_path, "first", "second", "third", "fourth")
        cut = whole.index("  - {name: second")  # a config of its own: "first" only
        with path.open("w") as f:
            await asyncio.sleep(0.3)  # empty
            f.write(whole[:cut])
            f.flush()
            await asyncio.sleep(0.3)  # "first" only
            f.write(whole[cut:])
        await eventually(lambda: names(daemon) == ["first", "second", "third", "fourth"])
        assert reloads(caplog) == ["config reloaded added=1 removed=0 changed=0"]
        assert reload_ok(daemon) == 1.0
    finally:
        await daemon.stop()


async def test_any_failure_of_the_loader_keeps_the_running_config(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "slowatch.yaml"
    path.write_text(config_text(tmp_path, "first"))
    failures = [RuntimeError("a bug in the loader"), MemoryError(), OverflowError("int too large to convert")]

    def loader(p: Path) -> Config:
        if failures:
            raise failures.pop(0)
        return load(p)

    daemon = Daemon(load(path), config_path=path, watch_interval=0, load=loader)
    await daemon.start(serve=False)
    try:
        path.write_text(config_text(tmp_path, "first", "second"))
        for _ in range(3):
            assert await daemon.reload() is False
            assert reload_ok(daemon) == 0.0 and names(daemon) == ["first"]
        assert "config reload failed, keeping the running config" in caplog.text
        assert "a bug in the loader" in caplog.text and "MemoryError" in caplog.text
        assert await daemon.reload() is True
        assert names(daemon) == ["first", "second"] and reload_ok(daemon) == 1.0
    finally:
        await daemon.stop()


async def test_reload_requests_during_a_reload_share_one_reload_after_it(tmp_path: Path) -> None:
    """SIGHUP spawns `daemon.reload()`: five during a slow reload used to queue five more full reloads."""
    path = tmp_path / "slowatch.yaml"
    path.write_text(config_text(tmp_path, "first"))
    loads: list[list[str]] = []

    def slow_load(p: Path) -> Config:  # the real loader, taking as long as a large config does
        config = load(p)
        loads.append([ep.name for ep in config.endpoints])
        time.sleep(0.3)
        return config

    daemon = Daemon(load(path), config_path=path, watch_interval=0, load=slow_load)
    await daemon.start(serve=False)
    try:
        path.write_text(config_text(tmp_path, "first", "second"))
        running = asyncio.ensure_future(daemon.reload())
        await eventually(lambda: len(loads) == 1)  # the first has read the file: the next must read it again
        path.write_text(config_text(tmp_path, "first", "third"))
        results = await asyncio.gather(running, *(daemon.reload() for _ in range(5)))
        assert results == [True] * 6
        # the first reload sees the file changed while it read it and reads it again (its SHA-256 must be of
        # what runs); the five queued requests share one reload after it
        assert loads == [["first", "second"], ["first", "third"], ["first", "third"]]
        assert names(daemon) == ["first", "third"] and reload_ok(daemon) == 1.0
    finally:
        await daemon.stop()


async def test_an_invalid_edit_reloaded_by_sighup_is_not_rejected_again_by_the_watcher(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Edit, then SIGHUP (a habit): a rejected reload did not record what it had read, so the watcher
    then found the same bytes "changed" and logged the same errors a second time."""
    path = tmp_path / "slowatch.yaml"
    path.write_text(config_text(tmp_path, "first"))
    daemon = Daemon(load(path), config_path=path, watch_interval=0.3, watch_settle=0.05)
    await daemon.start(serve=False)
    try:
        path.write_text(config_text(tmp_path, "first") + "bogus_key: true\n")
        assert await daemon.reload() is False
        await asyncio.sleep(1.0)  # three checks by the watcher
        assert caplog.text.count("config reload rejected") == 1 and reload_ok(daemon) == 0.0
    finally:
        await daemon.stop()


REORDER_A = """server: {{database: '{db}'}}
defaults: {{interval: 1s, timeout: 500ms}}
endpoints:
  - {{name: down, kind: http, url: 'http://127.0.0.1:1/', alerts: {{failure_threshold: 1}}, labels: {{a: '1', b: '2'}}}}
  - {{name: other, kind: tcp, host: 127.0.0.1, port: 1}}
consumers:
  - name: shop
    endpoints: [down, other]
    slos:
      - {{name: up, sli: availability, objective: 99}}
      - {{name: fast, sli: latency, threshold: 200ms, objective: 95}}
"""
REORDER_B = """consumers:
  - slos:
      - {{objective: 99, sli: availability, name: up}}
      - {{threshold: 200ms, name: fast, objective: 95, sli: latency}}
    endpoints: [other, down]
    name: shop
endpoints:
  - {{port: 1, host: 127.0.0.1, kind: tcp, name: other}}
  - {{labels: {{b: '2', a: '1'}}, alerts: {{failure_threshold: 1}}, url: 'http://127.0.0.1:1/', kind: http, name: down}}
defaults: {{timeout: 500ms, interval: 1s}}
server: {{database: '{db}'}}
"""


async def test_a_reload_that_only_reorders_keys_and_lists_changes_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Same endpoints, consumers and SLOs written in another order: no probe rescheduled, the firing alert
    keeps its start, the SLOs keep their ledgers (none rebuilt from history)."""
    caplog.set_level(logging.INFO)
    path = tmp_path / "slowatch.yaml"
    path.write_text(REORDER_A.format(db=tmp_path / "d.db"))
    daemon = Daemon(load(path), config_path=path, watch_interval=3600)
    await daemon.start(serve=False)
    try:
        await eventually(lambda: any(a["alert"] == "endpoint:down" for a in daemon.alerts_view()))
        before = [(a["alert"], a["since"]) for a in daemon.alerts_view()]
        slos = [(s["consumer"], s["slo"]) for s in daemon.slo_view()]
        caplog.clear()
        path.write_text(REORDER_B.format(db=tmp_path / "d.db"))
        assert await daemon.reload() is True
        assert "config reloaded added=0 removed=0 changed=0" in caplog.text
        assert "rebuilt" not in caplog.text and "restored" not in caplog.text, caplog.text
        assert [(a["alert"], a["since"]) for a in daemon.alerts_view()][: len(before)] == before
        assert [(s["consumer"], s["slo"]) for s in daemon.slo_view()] == slos
    finally:
        await daemon.stop()


async def test_a_file_renamed_over_with_its_old_mtime_and_a_configmap_swap_are_both_reloaded(
    watched: tuple[Daemon, Path], tmp_path: Path
) -> None:
    """An editor's temp file renamed over the config (even given the old mtime back, as `cp -p` or a restore
    does), then a Kubernetes ConfigMap update: `..data` swapped to a new directory, the old one deleted."""
    daemon, path = watched
    old = path.stat()
    tmp = tmp_path / ".slowatch.yaml.swp"
    tmp.write_text(config_text(tmp_path, "first", "renamed"))
    os.utime(tmp, ns=(old.st_atime_ns, old.st_mtime_ns))
    os.replace(tmp, path)
    await eventually(lambda: names(daemon) == ["first", "renamed"])

    for version in ("v1", "v2"):  # mounted: config.yaml -> ..data/config.yaml, ..data -> ..v1
        (tmp_path / f"..{version}").mkdir()
        (tmp_path / f"..{version}" / "config.yaml").write_text(config_text(tmp_path, "first", version))
    (tmp_path / "..data").symlink_to("..v1")
    path.unlink()
    path.symlink_to("..data/config.yaml")
    await eventually(lambda: names(daemon) == ["first", "v1"])
    (tmp_path / "..data_tmp").symlink_to("..v2")
    os.replace(tmp_path / "..data_tmp", tmp_path / "..data")
    (tmp_path / "..v1" / "config.yaml").unlink()
    (tmp_path / "..v1").rmdir()
    await eventually(lambda: names(daemon) == ["first", "v2"])
    assert reload_ok(daemon) == 1.0


async def test_an_unset_variable_in_a_reload_says_the_environment_is_the_one_slowatch_started_with(
    watched: tuple[Daemon, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`export TOKEN=...` in a shell, then SIGHUP: the daemon's environment is not the shell's, and
    "environment variable TOKEN is not set" alone reads like a typo."""
    daemon, path = watched
    monkeypatch.delenv("SLOWATCH_TEST_UNSET", raising=False)
    path.write_text(
        config_text(tmp_path, "first").replace("/first'}", "/first', headers: {X-Token: '${SLOWATCH_TEST_UNSET}'}}")
    )
    assert await daemon.reload() is False
    rejected = [r.getMessage() for r in caplog.records if r.getMessage().startswith("config reload rejected")]
    assert len(rejected) == 1 and "environment variable SLOWATCH_TEST_UNSET is not set" in rejected[0]
    assert rejected[0].endswith(
        "(a reload reads the environment slowatch was started with: restart it to take in a new variable)"
    )


async def test_a_switch_that_fails_part_way_is_switched_back_with_switch_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The daemon switches back through `switch_back` (its `_switch(old, rollback=True)`), so the SLO service knows
    the config it gets is the running one and the SLOs the failed switch removed carry on (slo/rollback.py)."""
    path = tmp_path / "slowatch.yaml"
    path.write_text(config_text(tmp_path, "first"))
    running = load(path)
    calls: list[tuple[str, list[str]]] = []

    async def switch(config: Config) -> None:
        calls.append(("switch", [ep.name for ep in config.endpoints]))
        raise RuntimeError("a later step of the switch failed")

    async def switch_back(config: Config) -> None:
        calls.append(("back", [ep.name for ep in config.endpoints]))

    outcomes: list[ReloadOutcome] = []
    reloader = ConfigReloader(
        path, current=lambda: running, switch=switch, report=outcomes.append, loader=load, switch_back=switch_back
    )
    path.write_text(config_text(tmp_path, "first", "second"))
    assert await reloader.reload() is False
    assert calls == [("switch", ["first", "second"]), ("back", ["first"])]
    assert [o.ok for o in outcomes] == [False] and "applying it failed (RuntimeError)" in (outcomes[0].error or "")
