"""Large configs load in a child process (config/isolated.py) and share equal sub-models (config/share.py)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from slowatch.config import load
from slowatch.config.endpoints import HttpEndpoint
from slowatch.config.isolated import RELOAD_CPU_SHARE, load_isolated
from slowatch.errors import ConfigError


def big_config(n: int, *, broken: bool = False) -> str:
    lines = ["defaults:", "  interval: 30s", "  alerts: {failure_threshold: 5}", "endpoints:"]
    for i in range(n):
        lines.append(f"  - name: ep-{i}")
        lines.append("    kind: http")
        lines.append(f"    url: ${{BASE}}/{i}")
        lines.append("    labels: {team: core}")
        if i % 3 == 0:
            lines.append("    expect: {status: [200, 204], body: [{contains: ok}]}")
        if broken and i == n - 1:
            lines.append("    interval: 0s")
    return "\n".join(lines) + "\n"


@pytest.fixture
def big_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A 300-endpoint config whose URLs come from `${BASE}` (set here: the child must see the environment)."""
    monkeypatch.setenv("BASE", "http://127.0.0.1:9")
    path = tmp_path / "big.yaml"
    path.write_text(big_config(300))
    return path


def test_a_large_file_loads_in_a_child_and_equals_the_in_process_load(big_file: Path) -> None:
    path = big_file
    isolated = load_isolated(path, threshold=1)
    assert isolated == load(path)
    assert isolated.endpoints[7].url == "http://127.0.0.1:9/7"  # the child saw the environment


def test_a_reload_child_loads_the_same_config_on_its_share_of_a_core(big_file: Path) -> None:
    path = big_file
    assert 0 < RELOAD_CPU_SHARE < 1
    assert load_isolated(path, threshold=1, cpu_share=RELOAD_CPU_SHARE) == load(path)


@pytest.mark.parametrize("output", [b"", b"\x80\x05\x95garbage", b"not a pickle at all"])
def test_a_child_whose_output_cannot_be_read_back_falls_back_to_loading_here(
    big_file: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, output: bytes
) -> None:
    """A loader child that exits 0 with output cut short (or not ours) used to end the start in an
    UnpicklingError traceback; now it is logged and the file loads in this process."""
    path = big_file
    (tmp_path / "out").write_bytes(output)
    fake = tmp_path / "fake-python"
    fake.write_text(f"#!/bin/sh\ncat {tmp_path / 'out'}\nexit 0\n")
    fake.chmod(0o755)
    assert load_isolated(path, threshold=1, python=str(fake)) == load(path)
    assert "the loader process failed (exit 0, its output unreadable: " in caplog.text


def test_a_throttled_process_uses_no_more_than_its_share_of_a_core() -> None:
    """0.4 s of CPU at a quarter of a core takes at least ~1.6 s (a busy machine only makes the share smaller)."""
    burn = textwrap.dedent("""
        import time
        from slowatch.config.isolated import throttled
        with throttled(0.25):
            wall, cpu = time.perf_counter(), time.process_time()
            while time.process_time() - cpu < 0.4:
                pass
            print(time.process_time() - cpu, time.perf_counter() - wall)
    """)
    out = subprocess.run([sys.executable, "-c", burn], capture_output=True, text=True, check=True, timeout=60)
    cpu, wall = map(float, out.stdout.split())
    assert cpu >= 0.4
    assert cpu / wall < 0.3  # unthrottled on an idle core: ~1.0


def test_problems_come_back_from_the_child_with_their_locations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BASE", "http://127.0.0.1:9")
    path = tmp_path / "big.yaml"
    path.write_text(big_config(50, broken=True))
    with pytest.raises(ConfigError) as direct:
        load(path)
    with pytest.raises(ConfigError) as child:
        load_isolated(path, threshold=1)
    assert child.value.problems == direct.value.problems
    assert "endpoints[49].interval" in str(child.value)
    assert f"{path}:" in str(child.value)


def test_an_unreadable_file_is_reported_like_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_isolated(tmp_path / "missing.yaml", threshold=1)


def test_equal_sub_models_are_one_instance_but_body_assertions_are_not_shared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BASE", "http://127.0.0.1:9")
    path = tmp_path / "c.yaml"
    path.write_text(big_config(30))
    eps = [ep for ep in load(path).endpoints if isinstance(ep, HttpEndpoint)]
    assert len({id(ep.alerts) for ep in eps}) == 1 and eps[0].alerts.failure_threshold == 5
    assert len({id(ep.tls) for ep in eps}) == 1
    assert len({id(ep.labels) for ep in eps}) == 1
    plain = [ep.expect for i, ep in enumerate(eps) if i % 3]
    with_body = [ep.expect for i, ep in enumerate(eps) if i % 3 == 0]
    assert len({id(x) for x in plain}) == 1
    assert len({id(x) for x in with_body}) == len(with_body)


def _loader_child(path: Path) -> int | None:
    """The pid of a running `python -m slowatch.config.isolated <path>`, if any (Linux /proc)."""
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"slowatch.config.isolated" in argv and str(path).encode() in argv:
            return int(proc.name)
    return None


def _ignores_sighup(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = next(line.split()[1] for line in status.splitlines() if line.startswith("SigIgn:"))
    return bool(int(mask, 16) & (1 << (signal.SIGHUP - 1)))


def test_a_sighup_to_every_slowatch_process_leaves_a_reload_s_loader_child_loading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """`pkill -HUP -f slowatch` (the README's plain reload) during a reload of a large config killed its loader
    child (a caught SIGHUP is the default again after exec): the reload then loaded the file in the daemon,
    the memory peak the child is there to keep out of it ('the loader process failed (exit -1)')."""
    monkeypatch.setenv("BASE", "http://127.0.0.1:9")
    path = tmp_path / "big.yaml"
    path.write_text(big_config(4000))
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        loading = pool.submit(load_isolated, path, threshold=1, cpu_share=RELOAD_CPU_SHARE)
        deadline = time.monotonic() + 30
        pid = None
        while pid is None and not loading.done():
            assert time.monotonic() < deadline, "no loader child"
            pid = _loader_child(path)
        assert pid is not None
        started = time.monotonic()  # its first line ignores SIGHUP; before the fix, 1 s in it was loading
        while not _ignores_sighup(pid) and time.monotonic() - started < 1.0 and not loading.done():
            time.sleep(0.005)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGHUP)
        config = loading.result(timeout=60)
    assert len(config.endpoints) == 4000
    assert "loader process failed" not in caplog.text, caplog.text
