"""Hostile edits of the shipped demo config (session h15's outside audit): each loads, or fails with the
loader's located ConfigError (file, line, field); never another exception, never a value taken wrongly.

`server.listen` took `[::1` and `::1` (port 1 on the host ':'), `[]:80` (the empty host: every interface,
when the brackets say one address was meant) and Unicode digits as a port (`127.0.0.1:٣٣`, or `:¹`, which
`int()` refused with its own words).
"""

from __future__ import annotations

import pytest

from slowatch.cli_flags import override
from slowatch.config.cluster import parse_shard
from tests.config.conftest import Errors, Loader

LISTEN = "must be HOST:PORT or [IPV6]:PORT"


@pytest.mark.parametrize(
    "listen",
    ["[::1", "::1", "[]:80", "[a]:80", "a]:80", "[[::1]]:80", "127.0.0.1:٣٣", "127.0.0.1:¹", "[::1]:", "[::1]x:80",
     "[127.0.0.1]:80"],
)  # fmt: skip
def test_a_listen_address_that_is_not_host_and_port_is_refused_where_it_is_written(errors: Errors, listen: str) -> None:
    assert errors(f'server:\n  listen: "{listen}"\n') == [f"2:11 server.listen: {LISTEN} (got {listen!r})"]


@pytest.mark.parametrize(
    ("listen", "host", "port"),
    [("127.0.0.1:9464", "127.0.0.1", 9464), ("[::1]:9464", "::1", 9464), ("::1:9464", "::1", 9464),
     ("0.0.0.0:0", "0.0.0.0", 0), ("localhost:80", "localhost", 80), ("[fe80::1%eth0]:80", "fe80::1%eth0", 80)],
)  # fmt: skip
def test_listen_addresses_people_write_still_load(load_config: Loader, listen: str, host: str, port: int) -> None:
    server = load_config(f'server:\n  listen: "{listen}"\n').server
    assert (server.host, server.port) == (host, port)


def test_a_listen_override_is_checked_the_same_way(load_config: Loader) -> None:
    config = load_config("server: {}\n")
    with pytest.raises(ValueError, match=r"^--listen: must be HOST:PORT"):
        override(config, "[::1", None, None)


@pytest.mark.parametrize("nameserver", ["10.0.0.2:¹", "10.0.0.2:٣", "[::1]:¹", "[::1]:٣٣"])
def test_a_nameserver_port_in_other_than_ascii_digits_is_refused_where_it_is_written(
    errors: Errors, nameserver: str
) -> None:
    """`:¹` was `int()`'s own words (invalid literal for int() with base 10); `:٣` was taken as port 3."""
    text = f'endpoints:\n  - {{name: d, kind: dns, query: a.example, nameserver: "{nameserver}"}}\n'
    assert errors(text) == [f"2:56 endpoints[0].nameserver: not host[:port]: {nameserver!r}"]


@pytest.mark.parametrize("shard", ["¹/4", "0/٤", "\u0660/4"])
def test_a_shard_in_other_than_ascii_digits_is_refused_in_the_flags_own_words(shard: str) -> None:
    with pytest.raises(ValueError, match=r"^--shard must be I/N, e.g. 0/4"):
        parse_shard(shard)
