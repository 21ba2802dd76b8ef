"""A reload's endpoint changes split among the prober workers, worked out off the event loop.

`plan_changes` does the per-endpoint work of `ProberPool.update` (which worker has the endpoint, whether it is
added, changed or removed, its revision, the frames each worker is sent) in a thread (switch.py `prepare`); the
loop then only merges the result into the pool's dicts (`ApplyPlan.merge`, C-level dict updates). Done on the
loop, a reload changing all 100,000 endpoints held it 0.4-1.8 s (at a load of 2-9) in one step, the longest
/healthz wait of such a reload (benchmarks/README.md, "Session 12: a reload that changes every endpoint").

A plan is worked out for the pool as it is at one moment (`generation`); the pool recomputes a plan made for an
earlier state of its shards on the loop rather than merge it (ProberPool.update).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from slowatch.config.diff import EndpointChanges
from slowatch.config.endpoints import Endpoint
from slowatch.workers.link import Message


@dataclass(frozen=True, slots=True)
class ApplyPlan:
    generation: int  # the pool's state it was worked out from
    deleted: dict[int, list[str]]  # by worker index: names leaving its shard
    put: dict[int, dict[str, Endpoint]]  # by worker index: new definitions in its shard
    dropped: list[str]  # names that no longer have an endpoint or a revision in the pool
    endpoints: dict[str, Endpoint]  # every new definition, by name
    revisions: dict[str, int]  # ... and the revision it carries
    messages: dict[int, list[Message]]  # by worker index: the "apply" frames it is sent, in order
    counts: tuple[int, int, int]  # added, removed, changed

    def merge(
        self, shards: Sequence[dict[str, Endpoint]], known: dict[str, Endpoint], revisions: dict[str, int]
    ) -> None:
        """Bring the pool's dicts to the planned state (on the loop: only dict operations, no per-endpoint logic
        but for deleted names)."""
        for index, names in self.deleted.items():
            shard = shards[index]
            for name in names:
                del shard[name]
        for index, put in self.put.items():
            shards[index].update(put)
        for name in self.dropped:
            known.pop(name, None)
            revisions.pop(name, None)
        known.update(self.endpoints)
        revisions.update(self.revisions)


def plan_changes(
    changes: EndpointChanges,
    shards: Sequence[Mapping[str, Endpoint]],
    home: Callable[[str], int],
    generation: int,
    chunk: int,
) -> ApplyPlan:
    """The plan of applying `changes` to workers holding `shards` (`home(name)`: the worker of a name none holds),
    with the outcome of applying them one after the other (a name twice: the last wins); `chunk` endpoints (or
    names) per "apply" frame (pool.py START_CHUNK: one frame of a change to 100,000 endpoints was 17 MB)."""
    holder: dict[str, int | None] = {}  # the worker holding a name before the changes (None: none)
    final: dict[str, tuple[int, Endpoint] | None] = {}  # ... and after them
    parts: dict[int, tuple[list[Endpoint], list[str]]] = {}
    added = removed = changed = 0
    steps: list[tuple[str, Endpoint | None]] = [(name, None) for name in changes.removed]
    steps += [(ep.name, ep) for ep in changes.upserts]
    for name, ep in steps:
        if name not in holder:
            holder[name] = next((i for i, shard in enumerate(shards) if name in shard), None)
        if name in final:
            after = final[name]
            now = None if after is None else after[0]
        else:
            now = holder[name]
        index = now if now is not None else home(name)
        upserts, gone = parts.setdefault(index, ([], []))
        if ep is None or not ep.enabled:
            if now is not None:
                gone.append(name)
                removed += 1
            final[name] = None
            continue
        if now is not None:
            changed += 1
        else:
            added += 1
        final[name] = (index, ep)
        upserts.append(ep)
    deleted: dict[int, list[str]] = {}
    put: dict[int, dict[str, Endpoint]] = {}
    dropped: list[str] = []
    for name, after in final.items():
        before = holder[name]
        if before is not None and (after is None or after[0] != before):
            deleted.setdefault(before, []).append(name)
        if after is None:
            dropped.append(name)
        else:
            put.setdefault(after[0], {})[name] = after[1]
    endpoints = {name: ep for part in put.values() for name, ep in part.items()}
    messages: dict[int, list[Message]] = {}
    for index, (upserts, gone) in parts.items():
        frames: list[Message] = [
            ("apply", EndpointChanges((), (), tuple(gone[i : i + chunk]), (), changes.revision))
            for i in range(0, len(gone), chunk)
        ]
        frames += [
            ("apply", EndpointChanges((), (), (), tuple(upserts[i : i + chunk]), changes.revision))
            for i in range(0, len(upserts), chunk)
        ]
        messages[index] = frames
    return ApplyPlan(
        generation, deleted, put, dropped, endpoints, dict.fromkeys(endpoints, changes.revision), messages,
        (added, removed, changed),
    )  # fmt: skip


__all__ = ["ApplyPlan", "plan_changes"]
