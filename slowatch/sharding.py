"""Where an endpoint lives: one stable hash of its name, shared by instance shards and prober workers.

`endpoint_hash(name)` is the first 8 bytes of BLAKE2b(name, digest_size=8) as a big-endian integer.
An instance with `server.cluster: {shard: i, shards: n}` owns the endpoints with `hash % n == i`
(shards are 0-based). Inside an instance, prober workers split its endpoints by `(hash // n) % workers`:
the quotient is independent of the remainder, so with `shards == workers` an instance's endpoints still
spread over all of its workers (with `hash % workers` they would all land on one).

Predict it with `slowatch shard --config FILE NAME...`, or in Python:
`int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big") % shards`.
"""

from __future__ import annotations

import hashlib


def endpoint_hash(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big")


def shard_of(name: str, shards: int) -> int:
    """The 0-based instance shard that owns endpoint `name` among `shards`."""
    return endpoint_hash(name) % shards


def worker_of(name: str, workers: int, shards: int = 1) -> int:
    """The prober worker (0-based) of endpoint `name` inside an instance that is one of `shards`."""
    return (endpoint_hash(name) // shards) % workers


__all__ = ["endpoint_hash", "shard_of", "worker_of"]
