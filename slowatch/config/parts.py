"""A large Config in parts, so a reload that edits one endpoint unpickles (and frees) one part.

The compiled cache (cache.py) and the loader child (isolated.py) hand a Config over pickled. Unpickled
whole, a reload of 100,000 endpoints rebuilt every Endpoint (~0.25 s), shared their scalars again (~0.1 s),
compared them all with the running ones (~0.4 s) and then freed the old ones, in one cascade of millions
of objects on whichever thread dropped the last reference (the event loop, for the longest stall of a
reload): all of it for one changed endpoint.

So a Config is pickled as
  - its *head*: the Config without endpoints, plus the endpoint names in their configured order;
  - its endpoints in `parts(n)` *parts*: an endpoint goes to part `crc32(name) % parts`, and each part is
    pickled on its own.
`Unpacker.build` keeps, from one build to the next, each part's endpoints by a digest of the part's pickled
bytes: a part whose bytes are the same as last time *is* the same endpoints (the same pickle stream of the
same classes), so its Endpoint objects are taken over as they are. The endpoint diff (config/diff.py)
then finds them unchanged by identity, and nothing of them is freed. Editing, adding or removing an
endpoint changes its part only; a change outside the endpoints (a consumer, a sink) changes the head only.

Same content must give the same bytes: pickling is deterministic for equal objects built in the same order,
except for sets of strings, whose order follows string hashes: `python -m slowatch.config.isolated` (the
loader child) runs with a fixed PYTHONHASHSEED. A part pickled under another seed (an in-process load) at
worst does not match, and is unpickled: nothing is ever reused unless its bytes are equal.
"""

from __future__ import annotations

import hashlib
import pickle
import zlib

from slowatch.config.endpoints import Endpoint
from slowatch.config.loader import gc_paused
from slowatch.config.schema import Config
from slowatch.config.share import Interner, share_equal_parts

PART_SIZE = 1_000
"""About this many endpoints per part (a power-of-two count of parts, so it moves rarely)."""
_PROTOCOL = pickle.HIGHEST_PROTOCOL


def parts(n: int) -> int:
    """How many parts `n` endpoints go into: the least power of two giving ≤ 2 * PART_SIZE per part."""
    count = 1
    while n > count * 2 * PART_SIZE:
        count *= 2
    return count


def part_of(name: str, count: int) -> int:
    return zlib.crc32(name.encode("utf-8", "surrogatepass")) % count


def pack(config: Config) -> bytes:
    """`config` as one pickle of (head, parts): see the module docstring."""
    endpoints = config.endpoints
    count = parts(len(endpoints))
    split: list[list[Endpoint]] = [[] for _ in range(count)]
    for ep in endpoints:
        split[part_of(ep.name, count)].append(ep)
    head = config.model_copy(update={"endpoints": []})
    blobs = [pickle.dumps(part, protocol=_PROTOCOL) for part in split]
    order = [ep.name for ep in endpoints]
    return pickle.dumps((pickle.dumps((head, order), protocol=_PROTOCOL), blobs), protocol=_PROTOCOL)


def _digest(blob: bytes) -> bytes:
    return hashlib.blake2b(blob, digest_size=16).digest()


class Unpacker:
    """Builds Configs from `pack`'s bytes, taking over the Endpoint objects of parts it built last time.
    The daemon's command line makes one and hands it to the start's load and to every reload's."""

    def __init__(self) -> None:
        self._parts: dict[bytes, list[Endpoint]] = {}
        self._shared = Interner()  # bounded: pruned after each build, and share.KEPT
        self.reused = 0  # parts taken over by the last build (for tests and logs)

    def build(self, packed: bytes) -> Config:
        """The Config `packed` holds (raises like pickle.loads, or TypeError when it is not one)."""
        with gc_paused():  # many objects, all alive: see loader.gc_paused
            head_blob, blobs = pickle.loads(packed)
            head, order = pickle.loads(head_blob)
            if not isinstance(head, Config) or not isinstance(blobs, list):
                raise TypeError(f"not a packed Config: {type(head).__name__}")
            known, current, reused = self._parts, {}, 0
            by_name: dict[str, Endpoint] = {}
            for blob in blobs:
                digest = _digest(blob)
                part = known.get(digest)
                if part is None:
                    part = pickle.loads(blob)
                    # a part's pickle keeps its endpoints' equal parts shared, not those of other parts (until
                    # session 9, 64 copies of each at 100,000 endpoints, and a worker's shard 3,200: +45 MB)
                    share_equal_parts(part, self._shared)
                else:
                    reused += 1
                current[digest] = part
                for ep in part:
                    by_name[ep.name] = ep
            endpoints = [by_name[name] for name in order]
        self._parts, self.reused = current, reused  # what the last config does not hold is let go
        self._shared.prune(ep for part in current.values() for ep in part)  # and the dicts only old parts held
        return head.model_copy(update={"endpoints": endpoints})


__all__ = ["PART_SIZE", "Unpacker", "pack", "part_of", "parts"]
