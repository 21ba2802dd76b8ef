"""Which model type describes a given place in the config data.

Error messages need to know the fields a model accepts (for "did you mean"), the tags of a
discriminated union (for "expected one of") and whether a value is a secret (never echoed). This
walks the annotations from the root model along a data path, choosing union members by their
`Literal` fields (the `kind: http` of an endpoint) when the data says which one applies.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, Secret, SecretBytes, SecretStr

Path = tuple[str | int, ...]

_SECRETS = (SecretStr, SecretBytes, Secret)
_MISSING = object()


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


_FLAT: dict[int, tuple[Any, list[Any]]] = {}


def _flatten(tp: Any) -> list[Any]:
    """The concrete alternatives of an annotation: Annotated stripped, unions spread, None dropped.

    Memoized per annotation object (by identity: `A | B == B | A`, but their orders differ); the
    same few are asked about for every endpoint. Do not mutate the result.
    """
    cached = _FLAT.get(id(tp))
    if cached is not None and cached[0] is tp:
        return cached[1]
    flat = _flatten_now(tp)
    _FLAT[id(tp)] = (tp, flat)  # holding `tp` keeps its id from being reused
    return flat


def _flatten_now(tp: Any) -> list[Any]:
    if get_origin(tp) is Annotated:
        return _flatten(get_args(tp)[0])
    if get_origin(tp) in (Union, types.UnionType):
        return [alt for arg in get_args(tp) for alt in _flatten(arg)]
    return [] if tp is None or tp is type(None) else [tp]


@cache
def _literal_fields(model: type[BaseModel]) -> dict[str, tuple[Any, ...]]:
    return {
        name: get_args(info.annotation)
        for name, info in model.model_fields.items()
        if get_origin(info.annotation) is Literal
    }


def _matches(model: type[BaseModel], data: Any) -> bool:
    literals = _literal_fields(model)
    return bool(literals) and all(name in data and data[name] in allowed for name, allowed in literals.items())


def _candidates(tp: Any, data: Any) -> list[Any]:
    alternatives = _flatten(tp)
    models = [alt for alt in alternatives if _is_model(alt)]
    if len(models) > 1 and isinstance(data, dict):
        chosen = [m for m in models if _matches(m, data)]
        if chosen:
            return [alt for alt in alternatives if not _is_model(alt) or alt in chosen]
    return alternatives


@cache
def _fields(model: type[BaseModel]) -> dict[str | int, Any]:
    """Annotation by key as written in YAML: the alias where one is set, else the field name."""
    out: dict[str | int, Any] = {}
    for name, info in model.model_fields.items():
        out[name] = info.annotation
        if info.alias:
            out[info.alias] = info.annotation
    return out


def _step(tp: Any, key: str | int) -> Any:
    if _is_model(tp):
        return _fields(tp).get(key, _MISSING)
    origin, args = get_origin(tp), get_args(tp)
    if origin is None or not isinstance(origin, type) or not args:
        return _MISSING
    if issubclass(origin, Mapping):
        return args[-1]
    if issubclass(origin, Sequence | set | frozenset) and isinstance(key, int):
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return args[key] if 0 <= key < len(args) else _MISSING
        return args[0]
    return _MISSING


def child(node: Any, key: str | int) -> tuple[bool, Any]:
    """(True, the value under `key`) in a mapping or list of config data, else (False, None)."""
    if isinstance(node, dict) and key in node:
        return True, node[key]
    if isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
        return True, node[key]
    return False, None


def types_at(root: type[BaseModel], data: Any, path: Path) -> list[Any]:
    """The possible types of the value at `path` (empty when the path leaves the schema)."""
    current = _candidates(root, data)
    node = data
    for key in path:
        if isinstance(node, dict):
            node = node.get(key, _MISSING)
        elif isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
            node = node[key]
        else:
            node = _MISSING
        following = [_step(tp, key) for tp in current]
        current = [alt for tp in following if tp is not _MISSING for alt in _candidates(tp, node)]
    return current


def secret_paths(root: type[BaseModel], data: Any) -> set[Path]:
    """Every path in `data` whose value is (or lies inside) a secret-typed field."""
    out: set[Path] = set()

    def visit(candidates: list[Any], node: Any, path: Path, inside: bool) -> None:
        inside = inside or is_secret(candidates)
        if inside:
            out.add(path)
        if isinstance(node, dict):
            items: list[tuple[str | int, Any]] = list(node.items())
        elif isinstance(node, list):
            items = list(enumerate(node))
        else:
            return
        for key, child in items:
            following = [_step(tp, key) for tp in candidates]
            if not inside and not any(_may_hold_secret(tp) for tp in following if tp is not _MISSING):
                continue  # nothing below can be secret (labels, URLs, ...): skip the subtree
            below = [alt for tp in following if tp is not _MISSING for alt in _candidates(tp, child)]
            if below or inside:
                visit(below, child, (*path, key), inside)

    visit(_candidates(root, data), data, (), False)
    return out


_HOLDS_SECRET: dict[Any, bool] = {}
_IN_PROGRESS: set[Any] = set()


def _may_hold_secret(tp: Any) -> bool:
    """Whether a value of type `tp` is, or may contain, a secret (memoized per type)."""
    try:
        known = _HOLDS_SECRET.get(tp)
    except TypeError:  # an unhashable annotation: assume it may
        return True
    if known is not None:
        return known
    if tp in _IN_PROGRESS:
        return True  # a self-referencing type: assume it may (never skips a secret)
    _IN_PROGRESS.add(tp)
    result = False
    for alt in _flatten(tp):
        if is_secret([alt]):
            result = True
        elif _is_model(alt):
            result = any(_may_hold_secret(field) for field in _fields(alt).values())
        else:
            result = any(_may_hold_secret(arg) for arg in get_args(alt) if arg is not Ellipsis)
        if result:
            break
    _IN_PROGRESS.discard(tp)
    _HOLDS_SECRET[tp] = result
    return result


def is_secret(candidates: list[Any]) -> bool:
    """True when any of the types is a pydantic secret (SecretStr, Secret[...], ...)."""
    for tp in candidates:
        cls = get_origin(tp) or tp
        if isinstance(cls, type) and issubclass(cls, _SECRETS):
            return True
    return False


def field_names(candidates: list[Any]) -> list[str]:
    """The keys the models among `candidates` accept (aliases where set)."""
    names: dict[str, None] = {}
    for tp in candidates:
        if _is_model(tp):
            names.update((info.alias or name, None) for name, info in tp.model_fields.items())
    return list(names)


def _words(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def mapping_form(candidates: list[Any]) -> str | None:
    """The mapping form of a field that also takes a plain value, in words: `a mapping with calendar (week,
    month or quarter) and optionally timezone`. None unless exactly one model is among `candidates`."""
    models = [tp for tp in candidates if _is_model(tp)]
    if len(models) != 1:
        return None
    model = models[0]
    required: list[str] = []
    optional: list[str] = []
    for name, info in model.model_fields.items():
        allowed = [str(v) for v in _literal_fields(model).get(name, ())]
        key = (info.alias or name) + (f" ({_words(allowed).replace(' and ', ' or ')})" if allowed else "")
        (required if info.is_required() else optional).append(key)
    parts = ([_words(required)] if required else []) + ([f"optionally {_words(optional)}"] if optional else [])
    return "a mapping with " + " and ".join(parts) if parts else "a mapping"


def tags(candidates: list[Any], discriminator: str) -> list[str]:
    """The values a discriminator field may take across the union members among `candidates`."""
    out: dict[str, None] = {}
    for tp in candidates:
        if _is_model(tp):
            out.update((str(tag), None) for tag in _literal_fields(tp).get(discriminator, ()))
    return list(out)


__all__ = ["child", "field_names", "is_secret", "mapping_form", "secret_paths", "tags", "types_at"]
