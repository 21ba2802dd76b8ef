"""`slowatch demo` runs on any free ports by itself: 8900 and 9464 taken is no obstacle."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import slowatch
from slowatch.cli import main
from slowatch.demo import demo_env

ROOT = Path(__file__).resolve().parent.parent
DEMO_VARIABLES = ("DEMO_HOST", "DEMO_SMTP_PORT", "SLOWATCH_LISTEN", "ONCALL_SLACK_WEBHOOK", "PLATFORM_SLACK_WEBHOOK")


@pytest.fixture
def taken_ports() -> Iterator[None]:
    """8900 (the platform's default), 8925 (its SMTP-like service) and 9464 (the daemon's) are listened on
    by someone else (by these sockets, or already by another process)."""
    held = []
    for port in (8900, 8925, 9464):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a demo that just ended leaves TIME_WAIT
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
        except OSError:
            sock.close()  # somebody else holds it: as good for this test
            continue
        held.append(sock)
    yield
    for sock in held:
        sock.close()


@pytest.mark.slow
def test_demo_moves_to_free_ports_and_probes_its_platform(
    taken_ports: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in DEMO_VARIABLES:  # the demo must need none of them
        monkeypatch.delenv(name, raising=False)
    config = str(ROOT / "config" / "slowatch.yaml")
    code = main(["demo", "--config", config, "--db", str(tmp_path / "demo.db"), "--duration", "6"])
    out = capsys.readouterr().out
    assert code == 0, out
    banner = re.search(r"platform on http://127\.0\.0\.1:(\d+) \(SMTP-like service on port (\d+)\), status page "
                       r"http://127\.0\.0\.1:(\d+)/", out)  # fmt: skip
    assert banner, out
    platform, smtp, web = map(int, banner.groups())
    assert {platform, smtp, web}.isdisjoint({8900, 8925, 9464}) and len({platform, smtp, web}) == 3
    table = {line.split()[0]: line for line in out.splitlines() if line[:1].isalpha() and "-" in line.split()[0]}
    assert "success" in table["payments-api"], out  # probed on the port the platform got
    assert "success" in table["mail-relay"], out  # the SMTP-like service too
    assert "connection_refused" in table["legacy-reports"], out


def test_explicit_demo_port_is_honoured_or_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        config = str(ROOT / "config" / "slowatch.yaml")
        code = main(["demo", "-c", config, "--db", str(tmp_path / "d.db"), "--demo-port", str(port), "--duration", "1"])
    assert code == 1
    assert f"slowatch demo: cannot listen on 127.0.0.1:{port}: Address already in use" in capsys.readouterr().err


def test_demo_env_keeps_real_webhooks() -> None:
    env = demo_env(4100, 4125, {"ONCALL_SLACK_WEBHOOK": "https://hooks.example/T/B/x", "PLATFORM_SLACK_WEBHOOK": ""})
    assert env["DEMO_HOST"] == "127.0.0.1:4100" and env["DEMO_SMTP_PORT"] == "4125"
    assert env["ONCALL_SLACK_WEBHOOK"] == "https://hooks.example/T/B/x"
    assert env["PLATFORM_SLACK_WEBHOOK"] == "http://127.0.0.1:4100/demo-slack/platform-feed"


def test_demo_runs_outside_a_checkout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`slowatch demo` as the README lists it, from a directory without ./config/slowatch.yaml (an installed
    slowatch, the Docker image): it stopped with `config/slowatch.yaml: cannot read the file`."""
    monkeypatch.chdir(tmp_path)
    code = main(["demo", "--duration", "2", "--demo-port", "0", "--listen", "127.0.0.1:0"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "slowatch demo: platform on http://127.0.0.1:" in out
    assert (tmp_path / "slowatch.db").exists()  # the shipped config's database, in the working directory


def test_the_packaged_demo_config_is_the_shipped_one() -> None:
    """The copy inside the package that `slowatch demo` falls back to is config/slowatch.yaml, byte for byte."""
    packaged = Path(slowatch.__file__).parent / "demo.yaml"
    assert packaged.read_bytes() == (ROOT / "config" / "slowatch.yaml").read_bytes()


def test_a_taken_listen_port_is_one_clear_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`slowatch demo --listen 127.0.0.1:PORT` with PORT taken said "cannot listen", then the daemon's second
    stop (the demo's own, after the one `start` made when serving failed) raised `StoreError: store is closed`."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        config = str(ROOT / "config" / "slowatch.yaml")
        argv = ["demo", "-c", config, "--db", str(tmp_path / "d.db"), "--demo-port", "0", "--listen"]
        code = main([*argv, f"127.0.0.1:{port}", "--duration", "1"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.startswith(f"slowatch demo: cannot listen on 127.0.0.1:{port}:"), err
    assert len(err.strip().splitlines()) == 1, err


def test_a_closed_standard_output_ends_the_demo_quietly(tmp_path: Path) -> None:
    """`slowatch demo | head -1`: the reader gone, the demo stops as other commands do, without "slowatch demo:
    Broken pipe" (the message meant for a taken port) or a traceback. The reading end is closed before the start."""
    read, write = os.pipe()
    os.close(read)
    argv = ["demo", "--db", str(tmp_path / "d.db"), "--demo-port", "0", "--listen", "127.0.0.1:0", "--duration", "5"]
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "slowatch", *argv], cwd=tmp_path, stdout=write, stderr=subprocess.PIPE, timeout=60
        )
    finally:
        os.close(write)
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    assert err == "", err
