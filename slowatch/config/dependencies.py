"""Endpoint dependencies: `endpoints[].depends_on: [auth-api, {labels: {tier: db}}]`.

`dependency_map` resolves every endpoint's references (names or label selectors, as in
`consumers[].endpoints`) into endpoint names, once per config. `check_dependencies` reports unknown
names, selectors that match nothing, an endpoint depending on itself and cycles, each located at
the `depends_on` entry that closes it (`endpoints[3].depends_on[0]: dependency cycle: a -> b -> a`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from slowatch.config.consumers import EndpointIndex, check_refs

if TYPE_CHECKING:
    from slowatch.config.schema import Config

Problem = tuple[tuple[str | int, ...], str]
DependencyMap = Mapping[str, tuple[str, ...]]


def dependency_map(config: Config, index: EndpointIndex | None = None) -> dict[str, tuple[str, ...]]:
    """endpoint -> the endpoints it depends on directly (config order, no duplicates, never itself)."""
    index = index or EndpointIndex(config.endpoints)
    out: dict[str, tuple[str, ...]] = {}
    for ep in config.endpoints:
        if ep.depends_on:
            out[ep.name] = tuple(n for n in index.resolve(ep.depends_on) if n != ep.name)
    return out


def dependents_map(deps: DependencyMap) -> dict[str, tuple[str, ...]]:
    """endpoint -> the endpoints depending on it directly."""
    out: dict[str, list[str]] = {}
    for name, parents in deps.items():
        for parent in parents:
            out.setdefault(parent, []).append(name)
    return {k: tuple(v) for k, v in out.items()}


def closure(start: str, edges: DependencyMap) -> list[str]:
    """Every endpoint reachable from `start` along `edges` (breadth first, nearest first, not `start`)."""
    seen: dict[str, None] = {}
    frontier = list(edges.get(start, ()))
    while frontier:
        nxt: list[str] = []
        for name in frontier:
            if name != start and name not in seen:
                seen[name] = None
                nxt.extend(edges.get(name, ()))
        frontier = nxt
    return list(seen)


def find_cycle(deps: DependencyMap) -> list[str] | None:
    """One dependency cycle as a path `[a, b, ..., a]`, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in deps:
        if state.get(root):
            continue
        path: list[str] = [root]
        stack = [iter(deps.get(root, ()))]
        state[root] = 1
        while stack:
            child = next(stack[-1], None)
            if child is None:
                stack.pop()
                state[path.pop()] = 2
            elif state.get(child) == 1:
                return [*path[path.index(child) :], child]
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append(iter(deps.get(child, ())))
    return None


def check_dependencies(config: Config) -> Iterable[Problem]:
    index = EndpointIndex(config.endpoints)
    position = {ep.name: i for i, ep in enumerate(config.endpoints)}
    for i, ep in enumerate(config.endpoints):
        path: tuple[str | int, ...] = ("endpoints", i, "depends_on")
        yield from check_refs(ep.depends_on, index, path)
        for j, ref in enumerate(ep.depends_on):
            if ref == ep.name:
                yield (*path, j), f"endpoint {ep.name!r} cannot depend on itself"
    deps = dependency_map(config, index)
    reported: set[frozenset[str]] = set()
    while (cycle := find_cycle(deps)) is not None:
        members = frozenset(cycle)
        if members not in reported:
            reported.add(members)
            last, closing = cycle[-2], cycle[-1]
            refs = config.endpoints[position[last]].depends_on
            j = next((k for k, r in enumerate(refs) if closing in index.resolve([r])), 0)
            yield ("endpoints", position[last], "depends_on", j), f"dependency cycle: {' -> '.join(cycle)}"
        deps = {k: tuple(v for v in vs if not (k == cycle[-2] and v == cycle[-1])) for k, vs in deps.items()}


__all__ = ["DependencyMap", "check_dependencies", "closure", "dependency_map", "dependents_map", "find_cycle"]
