"""Semantic (cross-reference) checks: on the whole config, or on the valid rest when fields fail."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from slowatch.config.checks import CHECKS
from slowatch.config.messages import did_you_mean
from slowatch.config.repair import Repairs, found, target
from slowatch.config.schema import DEFAULTED, Config
from slowatch.config.yamldoc import Path

if TYPE_CHECKING:
    from slowatch.config.loader import _Report as Report
    from slowatch.errors import ConfigProblem


def run_checks(report: Report, config: Config, original: Callable[[Path], Path | None]) -> None:
    for check in CHECKS:
        for path, message in check(config):
            mapped = original(tuple(path))
            if mapped is None:
                continue
            mapped, message = _where_written(report, mapped, message)
            shown, found, _ = report.resolve(mapped, keep_leaf=True)
            report.add(shown, found, message)


def _where_written(report: Report, path: Path, message: str) -> tuple[Path, str]:
    """A problem with a value an endpoint takes from `defaults` (`Config._apply_defaults`) is where that value
    is written: `defaults.timeout`, naming the endpoint, not the endpoint's entry, which does not hold it."""
    if len(path) != 3 or path[0] != "endpoints" or path[2] not in DEFAULTED or report.value_at(path)[0]:
        return path, message
    field = path[2]
    origin: Path = ("defaults", field)
    if not report.value_at(origin)[0]:  # the built-in default: the endpoint's entry is the place to set its own
        builtin = f"{DEFAULTED[field]} is the built-in default {field}"
        return path, f"{message}; {builtin}: set a shorter `{field}` on the endpoint or in `defaults`"
    _, entry = report.value_at(path[:2])
    name = entry.get("name") if isinstance(entry, dict) else None
    named = f" {name!r}" if isinstance(name, str) else ""
    return origin, f"{message} for endpoints[{path[1]}]{named}, which does not set its own {field}"


def check_the_rest(report: Report, errors: list[ErrorDetails]) -> None:
    """Run the cross-reference checks on what is valid, so one run reports every problem.

    A list item with a field error is repaired (config/repair.py: the bad optional field or the innermost
    element holding the error taken out) or, failing that, set aside; a section with one is set aside; the
    rest is validated again and checked. Problems about set-aside items or a whole list they are in (`routes`),
    naming one (`unknown endpoint 'x'` when endpoint x only had a bad field) or naming what a repair took out
    are dropped: they would be false. Of a repaired item's own problems only unknown and duplicate names are kept.
    """
    data = report.doc.data
    if not isinstance(data, dict):
        return
    broken_items: dict[str, set[int]] = {}
    broken_keys: dict[str, set[str]] = {}
    repairs = Repairs()
    for error in errors:
        loc = error["loc"]
        if not loc or not isinstance(loc[0], str) or loc[0] not in data:
            continue
        top = data[loc[0]]
        if isinstance(top, list) and len(loc) > 1 and isinstance(loc[1], int):
            cut = target(data, report.resolve(loc, keep_leaf=False)[1])
            if cut is None:
                broken_items.setdefault(loc[0], set()).add(loc[1])
            else:
                repairs.add(data, cut)
        elif isinstance(top, dict) and loc[0] == "sinks" and len(loc) > 1 and isinstance(loc[1], str):
            broken_keys.setdefault(loc[0], set()).add(loc[1])
        else:
            broken_keys.setdefault("", set()).add(loc[0])
    if broken_keys.get(""):
        return  # a broken section (server, defaults, ...) changes what everything else means
    for _ in range(3):  # what a repair left failing is repaired further, else set aside
        pruned, kept, dropped_names = _pruned(data, broken_items, broken_keys, repairs)
        try:
            partial = Config.model_validate(pruned)
            break
        except ValidationError as exc:
            if not _repair_further(data, pruned, kept, exc.errors(), repairs, broken_items):
                return  # the remaining problems depend on each other: the field errors come first
    else:
        return

    def original(path: Path) -> Path | None:
        if len(path) > 1 and isinstance(path[0], str) and path[0] in kept and isinstance(path[1], int):
            return repairs.original((path[0], kept[path[0]][path[1]], *path[2:]))
        return path

    before = len(report.problems)
    run_checks(report, partial, original)
    quoted = [repr(name) for name in (*dropped_names, *repairs.names)]
    names_only = "endpoints" in broken_items or any(item[0] == "endpoints" for item in repairs.removed)

    def trustworthy(problem: ConfigProblem) -> bool:
        if any(q in problem.message for q in quoted) or problem.path in broken_items:
            return False  # (a problem with a whole section, `routes`, was judged without its set-aside items)
        name_level = problem.message.startswith(("duplicate", "unknown"))
        item = _ITEM.match(problem.path)
        if item is not None and (item[1], int(item[2])) in repairs.removed:
            return name_level
        # With endpoints set aside, what a selector matches is unknown: keep only name-level problems.
        return not names_only or name_level

    report.problems[before:] = [p for p in report.problems[before:] if trustworthy(p)]
    sinks = data.get("sinks")
    set_aside = {
        "endpoint": _names(data.get("endpoints")) & dropped_names,
        "consumer": _names(data.get("consumers")) & dropped_names,
        "sink": set(sinks) & dropped_names if isinstance(sinks, dict) else set(),
    }
    report.problems[before:] = [
        replace(p, message=_suggest_among(p.message, set_aside)) for p in report.problems[before:]
    ]


def _repair_further(
    data: dict[str, Any],
    pruned: dict[str, Any],
    kept: dict[str, list[int]],
    errors: list[ErrorDetails],
    repairs: Repairs,
    broken_items: dict[str, set[int]],
) -> bool:
    """Take more out of the repaired items the `errors` of validating `pruned` are in (a model's own check
    runs once its fields are valid); False when an error is anywhere else."""
    for error in errors:
        loc = error["loc"]
        if len(loc) < 2 or not isinstance(loc[0], str) or loc[0] not in kept or not isinstance(loc[1], int):
            return False
        item = (loc[0], kept[loc[0]][loc[1]])
        if item not in repairs.removed:
            return False
        cut = target(data, repairs.original((*item, *found(pruned, loc)[2:])))
        if cut is None or cut in repairs.removed[item]:
            del repairs.removed[item]
            broken_items.setdefault(item[0], set()).add(item[1])
        else:
            repairs.add(data, cut)
    return True


def _pruned(
    data: dict[str, Any], broken_items: dict[str, set[int]], broken_keys: dict[str, set[str]], repairs: Repairs
) -> tuple[dict[str, Any], dict[str, list[int]], set[str]]:
    """The data without the set-aside items and sinks, with the repaired items; the original index of each kept
    list item; the names of the set-aside ones."""
    pruned: dict[str, Any] = {}
    kept: dict[str, list[int]] = {}
    dropped_names: set[str] = set()
    for key, value in data.items():
        if isinstance(value, list) and (key in broken_items or any(item[0] == key for item in repairs.removed)):
            kept[key] = [i for i in range(len(value)) if i not in broken_items.get(key, set())]
            pruned[key] = [
                repairs.repaired(data, (key, i)) if (key, i) in repairs.removed else value[i] for i in kept[key]
            ]
            for i in broken_items.get(key, set()):
                name = value[i].get("name") if 0 <= i < len(value) and isinstance(value[i], dict) else None
                if isinstance(name, str):
                    dropped_names.add(name)
        elif isinstance(value, dict) and key in broken_keys:
            pruned[key] = {k: v for k, v in value.items() if k not in broken_keys[key]}
            dropped_names.update(broken_keys[key])
        else:
            pruned[key] = value
    return pruned, kept, dropped_names


_ITEM = re.compile(r"(\w+)\[(\d+)\]")
_UNKNOWN = re.compile(r"unknown (endpoint|consumer|sink) '([^']*)'(?: \(did you mean '([^']*)'\?\)| \(known: .*\))?")


def _names(items: object) -> set[str]:
    """The `name` of each entry of a list section, as written (valid or not)."""
    if not isinstance(items, list):
        return set()
    return {item["name"] for item in items if isinstance(item, dict) and isinstance(item.get("name"), str)}


def _suggest_among(message: str, set_aside: dict[str, set[str]]) -> str:
    """`unknown endpoint 'paymnts-api' (did you mean ...?)` with the closest name among every one defined in
    the file: the checks only saw the valid rest, and a name whose entry has a field error is still a name
    (the typo of `payments-api` is not `auth-api` because payments-api has a bad interval)."""
    m = _UNKNOWN.fullmatch(message)
    if m is None or not set_aside[m[1]]:
        return message
    candidates: Iterable[str] = set_aside[m[1]] | ({m[3]} if m[3] else set())
    better = did_you_mean(m[2], sorted(candidates))
    return f"unknown {m[1]} {m[2]!r}{better}" if better else message


__all__ = ["check_the_rest", "run_checks"]
