"""`topology.free_port`: a port below the kernel's ephemeral range, whatever that range is."""

from __future__ import annotations

import ast
import socket
from pathlib import Path

import pytest

from slowatch.topology.demo import parse_args
from slowatch.topology.processes import EPHEMERAL_LOW, free_port, port_share
from tests.support.sockets import free_port as worker_free_port
from tests.support.sockets import worker_ports


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
    return True


def test_the_port_is_below_the_ephemeral_range_and_free() -> None:
    port = free_port()
    assert (port < EPHEMERAL_LOW or EPHEMERAL_LOW <= 1024) and _bindable(port)


@pytest.mark.parametrize("low", [1, 1024, 1025])
def test_a_range_that_starts_at_or_below_1024_still_gives_a_port(low: int) -> None:
    """`ip_local_port_range` = "1024 65535" is a common tuning: no room below it, so the OS picks."""
    port = free_port(low)
    assert 0 < port < 65536 and _bindable(port)


def test_shares_are_disjoint_below_the_ephemeral_range_and_picked_from() -> None:
    """Parallel test workers each pick from their own share: a port one picked (a daemon yet to bind it, or to
    bind it again after kill -9) is never another's pick."""
    shares = [port_share(i, 2) for i in range(2)]
    assert not set(shares[0]) & set(shares[1]) and all(len(s) > 1000 for s in shares)
    whole = port_share(0, 1)  # below the ephemeral range (above 1024 when it leaves no room there)
    assert whole.start >= 1024 and (whole.stop == EPHEMERAL_LOW or EPHEMERAL_LOW <= 2048)
    assert all(s.start >= whole.start and s.stop <= whole.stop for s in shares)
    for share in shares:
        port = free_port(ports=share)
        assert port in share and _bindable(port)


def test_each_xdist_worker_has_its_own_share(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    picked = {}
    for worker in ("gw0", "gw1"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        picked[worker] = worker_ports()
        assert worker_free_port() in picked[worker]
    assert picked["gw0"] == port_share(0, 2) and picked["gw1"] == port_share(1, 2)


def test_every_test_starting_topology_services_takes_ports_from_its_worker_share() -> None:
    """Topology, AlertmanagerCluster and SlackStandIn pick ports anywhere below the ephemeral range unless given
    `ports=`: test_clock_skew's cluster, without it, drew a port the other xdist worker had picked from its own
    share ("listen tcp 127.0.0.1:22962: bind: address already in use")."""
    root = Path(__file__).resolve().parent
    missing = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in STARTERS):
                continue
            if not any(k.arg == "ports" for k in node.keywords):
                missing.append(f"{path.relative_to(root)}:{node.lineno} {node.func.id}(...)")
    assert not missing, "pass ports=worker_ports(): " + ", ".join(missing)


STARTERS = ("Topology", "AlertmanagerCluster", "SlackStandIn")


def test_the_cluster_demo_takes_a_port_range(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_args(["--ports", "20000-26000"]).ports == range(20000, 26000)
    assert parse_args([]).ports is None
    for bad in ("26000-20000", "20000", "80-1000", "a-b"):
        with pytest.raises(SystemExit) as stopped:
            parse_args(["--ports", bad])
        assert stopped.value.code == 2
        assert f"--ports must be LOW-HIGH with 1024 <= LOW < HIGH <= 65536 (got '{bad}')" in capsys.readouterr().err
