"""A rejected reload says why in /api/v1/config, not only in the log: an operator (or a deploy job) that
cannot read the daemon's log sees that the file on disk is not the config running, and each problem."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from slowatch.config import Config, load
from slowatch.daemon import Daemon
from slowatch.reload import KEPT_PROBLEMS


def text(tmp_path: Path, extra: str = "", token: str = "${API_TOKEN}") -> str:
    return (
        f"server: {{listen: '127.0.0.1:0', database: '{tmp_path / 'd.db'}'}}\n"
        "endpoints:\n"
        "  - name: api\n    kind: http\n    url: http://127.0.0.1:1/\n"
        f"    headers: {{Authorization: 'Bearer {token}'}}\n" + extra
    )


async def get(daemon: Daemon, path: str) -> dict[str, object]:
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{daemon.bound_port}{path}") as r:
        assert r.status == 200, await r.text()
        return dict(json.loads(await r.text()))


@pytest.fixture
async def daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Daemon]:
    monkeypatch.setenv("API_TOKEN", "s3cret-token-value")
    path = tmp_path / "slowatch.yaml"
    path.write_text(text(tmp_path))
    d = Daemon(load(path), config_path=path, watch_interval=3600)
    await d.start()
    try:
        yield d
    finally:
        await d.stop()


async def test_a_rejected_reload_is_shown_with_its_problems_and_a_good_one_clears_it(
    daemon: Daemon, tmp_path: Path
) -> None:
    path = tmp_path / "slowatch.yaml"
    started = hashlib.sha256(path.read_bytes()).hexdigest()
    doc = await get(daemon, "/api/v1/config")
    assert doc["file"] == str(path) and doc["sha256"] == started and doc["last_reload"] is None

    bad = text(tmp_path, "    interval: 0s\n    intervl: 5s\n", token="${API_TOKEN}x")
    path.write_text(bad)
    assert await daemon.reload() is False
    doc = await get(daemon, "/api/v1/config")
    assert doc["sha256"] == started  # the running config is still the one started with
    last = doc["last_reload"]
    assert isinstance(last, dict) and last["ok"] is False and last["error"] is None
    assert last["sha256"] == hashlib.sha256(bad.encode()).hexdigest() and isinstance(last["at"], float)
    assert last["problems"] == [
        f"{path}:7:15 endpoints[0].interval: must be at least 1s (got '0s')",
        f"{path}:8:5 endpoints[0].intervl: unknown field 'intervl' (did you mean 'interval'?)",
    ]
    assert last["problem_count"] == 2
    assert "s3cret" not in json.dumps(doc)

    path.write_text(text(tmp_path, "    interval: 10s\n"))
    assert await daemon.reload() is True
    doc = await get(daemon, "/api/v1/config")
    fixed = hashlib.sha256(path.read_bytes()).hexdigest()
    assert doc["sha256"] == fixed and doc["last_reload"] == {
        "ok": True, "at": doc["last_reload"]["at"], "sha256": fixed, "problems": [], "problem_count": 0,  # type: ignore[index]
        "error": None,
    }  # fmt: skip


async def test_a_directory_in_place_of_the_file_is_one_problem_and_no_sha256(daemon: Daemon, tmp_path: Path) -> None:
    path = tmp_path / "slowatch.yaml"
    path.unlink()
    path.mkdir()  # a directory in place of the file: a located ConfigError
    assert await daemon.reload() is False
    last = (await get(daemon, "/api/v1/config"))["last_reload"]
    assert isinstance(last, dict) and last["ok"] is False and last["sha256"] is None
    assert last["problems"] == [f"{path}: is a directory, not a regular file: point --config at the YAML file itself"]


async def test_a_loader_failure_names_what_failed_and_never_its_message(tmp_path: Path) -> None:
    """Not a config problem (a bug): the API says what failed; the message, which may quote anything, stays in the
    log with its traceback."""
    path = tmp_path / "slowatch.yaml"
    path.write_text(text(tmp_path, token="static"))

    def broken(_: Path) -> Config:
        raise RuntimeError("boom: Bearer static")

    d = Daemon(load(path, env={}), config_path=path, watch_interval=3600, load=broken)
    await d.start()
    try:
        assert await d.reload() is False
        doc = await get(d, "/api/v1/config")
        assert doc["last_reload"] == {
            "ok": False, "at": doc["last_reload"]["at"], "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),  # type: ignore[index]
            "problems": [], "problem_count": 0, "error": "loading failed (RuntimeError)",
        }  # fmt: skip
    finally:
        await d.stop()


async def test_the_problems_kept_are_bounded_and_counted(daemon: Daemon, tmp_path: Path) -> None:
    """A file of thousands of broken endpoints: the log has every problem, the API the first KEPT_PROBLEMS."""
    path = tmp_path / "slowatch.yaml"
    broken = "".join(f"  - {{name: e{i}, kind: http, url: 'http://127.0.0.1:1/', interval: 0s}}\n" for i in range(1500))
    path.write_text(text(tmp_path).replace("endpoints:\n", "endpoints:\n" + broken))
    assert await daemon.reload() is False
    last = (await get(daemon, "/api/v1/config"))["last_reload"]
    assert isinstance(last, dict) and last["problem_count"] == 1500 and isinstance(last["problems"], list)
    assert len(last["problems"]) == KEPT_PROBLEMS == 1000
    assert last["problems"][-1] == f"{path}:1002:68 endpoints[999].interval: must be at least 1s (got '0s')"
