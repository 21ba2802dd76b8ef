"""List items with a field error, repaired for the cross-reference checks (config/semantic.py).

A consumer with one bad SLO field still names endpoints, and an endpoint with a bad interval still
depends on others: set aside whole, their references were checked only in a second `check` run,
after the field errors were fixed. A repair takes out the least that carries the error: a field the
innermost list element holding it can do without (unknown, optional, or taken from `defaults`:
`endpoints[0].interval`, `consumers[0].slos[1].alert_sinks`), else that element (`consumers[0].slos[0]`
whose required `objective` is bad, `consumers[0].endpoints[2]`); an error on the item itself sets the
item aside.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from slowatch.config import typewalk
from slowatch.config.schema import DEFAULTED, Config
from slowatch.config.yamldoc import Path


def _removable(data: Any, parent: Path, key: str | int) -> bool:
    """Whether the value at `parent` (of one model) validates without `key`: an unknown field, an optional
    one, or one an endpoint takes from `defaults`."""
    models: list[type[BaseModel]] = [
        tp for tp in typewalk.types_at(Config, data, parent) if isinstance(tp, type) and issubclass(tp, BaseModel)
    ]
    if len(models) != 1 or not isinstance(key, str):
        return False
    info = next((f for name, f in models[0].model_fields.items() if key in (name, f.alias)), None)
    defaulted = len(parent) == 2 and parent[0] == "endpoints" and key in DEFAULTED
    return info is None or not info.is_required() or defaulted


def target(data: Any, found: Path) -> Path | None:
    """What to take out of a top-level list item for the error at `found` (a path present in the data);
    None when only the whole item can go."""
    ints = [i for i, key in enumerate(found) if isinstance(key, int)]
    if not ints or ints[-1] < 1:
        return None
    k = ints[-1]
    if k + 1 < len(found) and _removable(data, found[: k + 1], found[k + 1]):
        return found[: k + 2]
    return found[: k + 1] if k >= 2 else None


@dataclass
class Repairs:
    """What was taken out of which top-level items (paths in the original data)."""

    removed: dict[Path, set[Path]] = field(default_factory=dict)  # item path -> removed paths under it
    names: set[str] = field(default_factory=set)  # names of removed elements (an SLO also as consumer/slo)

    def add(self, data: Any, path: Path) -> None:
        self.removed.setdefault(path[:2], set()).add(path)
        value = _at(data, path)
        name = value.get("name") if isinstance(value, dict) else None
        if isinstance(name, str):
            self.names.add(name)
            owner = _at(data, path[:2])
            if path[0] == "consumers" and len(path) == 4 and isinstance(owner, dict):
                self.names.add(f"{owner.get('name')}/{name}")

    def repaired(self, data: Any, item: Path) -> Any:
        """A copy of the item at `item` without what was taken out of it."""
        out = copy.deepcopy(_at(data, item))
        paths = self.removed.get(item, set())
        for path in sorted((p for p in paths if isinstance(p[-1], str)), reverse=True):
            parent = _at(out, path[2:-1])
            if isinstance(parent, dict):
                parent.pop(path[-1], None)
        for path in sorted((p for p in paths if isinstance(p[-1], int)), reverse=True):
            parent = _at(out, path[2:-1])
            if isinstance(parent, list) and isinstance(path[-1], int) and path[-1] < len(parent):
                del parent[path[-1]]
        return out

    def original(self, path: Path) -> Path:
        """`path` in a repaired item (top-level index already original) as it is in the original data."""
        taken = self.removed.get(path[:2])
        if not taken:
            return path
        out = list(path[:2])
        for key in path[2:]:
            if isinstance(key, int):
                gone = sorted(p[-1] for p in taken if p[:-1] == tuple(out) and isinstance(p[-1], int))
                for index in gone:  # (ascending: each removed element before it moves it one further)
                    if index <= key:
                        key += 1
            out.append(key)
        return tuple(out)


def _has_index(node: Any, key: str | int) -> bool:
    return isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node)


def found(node: Any, loc: Iterable[str | int]) -> Path:
    """The keys of `loc` (a pydantic error's) present in the data `node`, in order: no union tags."""
    out: list[str | int] = []
    for key in loc:
        if (isinstance(node, dict) and key in node) or _has_index(node, key):
            node = node[key]
            out.append(key)
    return tuple(out)


def _at(node: Any, path: Path) -> Any:
    for key in path:
        if not ((isinstance(node, dict) and key in node) or _has_index(node, key)):
            return None
        node = node[key]
    return node


__all__ = ["Repairs", "found", "target"]
