"""`topology.free_port`: a port below the kernel's ephemeral range, whatever that range is."""

from __future__ import annotations

import socket

import pytest

from slowatch.topology.processes import EPHEMERAL_LOW, free_port


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
