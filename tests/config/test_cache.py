"""The compiled config cache (config/cache.py): a hit equals the YAML load, anything else misses."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from slowatch.config import load
from slowatch.config.cache import cache_path
from slowatch.config.isolated import load_cached, load_isolated
from slowatch.errors import ConfigError

TOKEN = "tok-9f8e7d6c5b4a"
HIT = "config loaded from the compiled cache"


def write(path: Path, n: int = 40, *, broken: bool = False) -> Path:
    lines = [
        "sinks:",
        "  ops: {kind: webhook, url: 'http://127.0.0.1:9/hook', headers: {Authorization: 'Bearer ${HOOK_TOKEN}'}}",
        "routes: [{match: {}, sinks: [ops]}]",
        "endpoints:",
    ]
    for i in range(n):
        lines += [f"  - name: ep-{i}", "    kind: http", f"    url: http://127.0.0.1:9/{i}?t=${{API_TOKEN}}"]
    if broken:
        lines.append("    interval: 0s")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKEN", TOKEN)
    monkeypatch.setenv("HOOK_TOKEN", "hook-" + TOKEN)


def hits(caplog: pytest.LogCaptureFixture) -> int:
    return sum(HIT in r.getMessage() for r in caplog.records)


@pytest.mark.usefixtures("env")
def test_the_second_load_comes_from_the_cache_and_equals_the_yaml_load(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "slowatch.config")
    path = write(tmp_path / "c.yaml")
    first = load_cached(path, cache_above=1)
    assert hits(caplog) == 0 and cache_path(path).exists()
    second = load_cached(path, cache_above=1)
    assert hits(caplog) == 1
    assert second == first == load(path)
    assert second.endpoints[3].url == f"http://127.0.0.1:9/3?t={TOKEN}"
    for config in (first, second):  # equal durations are one float object, also after the cache's pickle
        assert len({id(ep.interval) for ep in config.endpoints}) == 1
        assert len({id(ep.timeout) for ep in config.endpoints}) == 1
        assert len({id(ep.depends_on) for ep in config.endpoints}) == 1


@pytest.mark.usefixtures("env")
def test_the_cache_file_is_private_and_holds_no_environment_value_in_plaintext(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml")
    load_cached(path, cache_above=1)
    blob = cache_path(path).read_bytes()
    assert stat.S_IMODE(cache_path(path).stat().st_mode) == 0o600
    assert TOKEN.encode() not in blob and TOKEN.encode("utf-16-le") not in blob
    assert b"127.0.0.1" not in blob  # nothing of the Config is readable at all


@pytest.mark.usefixtures("env")
def test_a_changed_variable_or_file_misses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "slowatch.config")
    path = write(tmp_path / "c.yaml")
    load_cached(path, cache_above=1)
    monkeypatch.setenv("API_TOKEN", "other-token")
    assert load_cached(path, cache_above=1).endpoints[0].url.endswith("t=other-token")
    monkeypatch.delenv("HOOK_TOKEN")
    with pytest.raises(ConfigError, match="HOOK_TOKEN is not set"):
        load_cached(path, cache_above=1)
    monkeypatch.setenv("HOOK_TOKEN", "x")
    write(path, n=41)
    assert len(load_cached(path, cache_above=1).endpoints) == 41
    assert hits(caplog) == 0


@pytest.mark.usefixtures("env")
def test_a_broken_config_is_never_cached_and_keeps_its_locations(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", broken=True)
    for _ in range(2):
        with pytest.raises(ConfigError) as info:
            load_cached(path, cache_above=1)
        assert f"{path}:125:15 endpoints[39].interval" in str(info.value)
    assert not cache_path(path).exists()


@pytest.mark.usefixtures("env")
@pytest.mark.parametrize("damage", ["flip", "truncate", "group-writable", "symlink"])
def test_a_damaged_or_foreign_cache_file_misses(tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str) -> None:
    caplog.set_level(logging.INFO, "slowatch.config")
    path = write(tmp_path / "c.yaml")
    expected = load_cached(path, cache_above=1)
    cached = cache_path(path)
    blob = cached.read_bytes()
    if damage == "flip":
        cached.write_bytes(blob[:-40] + bytes([blob[-40] ^ 1]) + blob[-39:])
    elif damage == "truncate":
        cached.write_bytes(blob[: len(blob) // 2])
    elif damage == "group-writable":
        os.chmod(cached, 0o620)
    else:
        real = tmp_path / "elsewhere"
        cached.rename(real)
        cached.symlink_to(real)
    assert load_cached(path, cache_above=1) == expected
    assert hits(caplog) == 0


@pytest.mark.usefixtures("env")
def test_a_cached_large_file_needs_no_child_process(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "slowatch.config")
    path = write(tmp_path / "c.yaml")
    first = load_isolated(path, threshold=1, cache_above=1)  # the child loads it and writes the cache
    assert cache_path(path).exists() and hits(caplog) == 0
    assert load_isolated(path, threshold=1, cache_above=1) == first
    assert hits(caplog) == 1  # logged by this process: no child was needed


@pytest.mark.usefixtures("env")
def test_small_files_are_not_cached(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml")
    load_isolated(path)
    assert not cache_path(path).exists()
