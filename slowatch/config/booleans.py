"""Booleans that pydantic turned into numbers: YAML 1.1 reads `on`, `off`, `yes`, `no` (and `true`, `false`)
as booleans, and pydantic's lax mode takes a boolean for a whole number or a number (True is 1). So
`max_concurrency: on` ran one probe at a time, `retries: yes` retried once, and `probe_workers: off` meant
0 workers, all without a word. The parser records where it built a boolean (`Document.bools`); once the
Config is validated, a boolean that became a number there is a located problem."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import BaseModel

from slowatch.config.yamldoc import Path


def message(got: str | None) -> str:
    """`must be a number, not true or false (got on: YAML reads on, off, yes and no as such)`."""
    written = f"got {got}: " if got else ""
    return f"must be a number, not true or false ({written}YAML reads on, off, yes and no as such)"


_MISSING = object()


def _child(node: Any, key: str | int) -> Any:
    if isinstance(node, BaseModel) and isinstance(key, str):
        fields = type(node).model_fields
        if key not in fields:  # a field written by its alias (`continue`)
            key = next((name for name, f in fields.items() if f.alias == key), "")
        return getattr(node, key, _MISSING) if key else _MISSING
    if isinstance(node, dict):
        return node.get(key, _MISSING)
    if isinstance(node, list | tuple) and isinstance(key, int) and 0 <= key < len(node):
        return node[key]
    return _MISSING


def numbers_from_booleans(config: BaseModel, bools: Iterable[Path]) -> Iterator[Path]:
    """The paths of `bools` (where the YAML has a boolean) at which `config` holds a number instead."""
    for path in bools:
        node: Any = config
        for key in path:
            node = _child(node, key)
            if node is _MISSING:
                break
        if node is not _MISSING and isinstance(node, int | float) and not isinstance(node, bool):
            yield path


__all__ = ["message", "numbers_from_booleans"]
