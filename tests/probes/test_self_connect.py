"""A probe of 127.0.0.1:P where nothing listens, P an ephemeral port, can connect to itself.

Linux lets a socket connecting to 127.0.0.1:P be given P as its own port (TCP simultaneous open): the
connection is up, with the probe's own socket at the other end. A tcp probe then reported `success` for a
service that is down, an HTTP probe read its own request back (`protocol_error`), TLS its own ClientHello.
The probes now see `getsockname() == getpeername()` and report `connection_refused`, saying why.

Deterministic: the probes run in a network namespace of their own (`unshare -rn`) whose only ephemeral port
is the one probed, so each connection can only be to itself.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.probes.test_http_non_http_peer import loop_names

ROOT = Path(__file__).resolve().parents[2]
KINDS = ("tcp", "tcp-banner", "tls", "http", "https", "transaction")


def namespace_works() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    done = subprocess.run(["unshare", "-rn", "ip", "link", "set", "lo", "up"], capture_output=True, check=False)
    return done.returncode == 0


pytestmark = pytest.mark.skipif(not namespace_works(), reason="needs unshare -rn (user and network namespaces)")


@pytest.mark.parametrize("loop", loop_names())
def test_a_probe_connected_to_itself_is_connection_refused(loop: str) -> None:
    cases = [f"{kind}:{loop}" for kind in KINDS]
    cmd = ["unshare", "-rn", sys.executable, "-m", "tests.support.selfconnect", "40001", *cases]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["case"] for r in results] == cases
    for r in results:
        assert (r["case"], r["outcome"]) == (r["case"], "connection_refused"), r
        assert "connected to itself" in r["message"], r


@pytest.mark.parametrize("loop", loop_names())
def test_a_sink_connected_to_itself_cannot_connect(loop: str) -> None:
    """The sinks' session (HandoffConnector) refuses a self-connect too: the attempt fails as a refusal (retried,
    `cannot connect`), not as an HTTP reply read from its own request."""
    cmd = ["unshare", "-rn", sys.executable, "-m", "tests.support.selfconnect", "40001", f"sink:{loop}"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    [result] = [json.loads(line) for line in done.stdout.splitlines()]
    assert (result["outcome"], result["message"]) == ("failed", "cannot connect: connected to itself")
