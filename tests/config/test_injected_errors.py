"""`check` on valid configs with one to three field errors injected: every problem reported is real.

The shipped configs and the README's whole-config examples, each broken in random places (seeded): a value
swapped for one of the wrong type, a bad duration, an out-of-range number, or an unknown key added. Each
problem must be about an injected path (at it, inside it, or the item holding it) or name what the injection
took away (`unknown endpoint 'x'` once endpoint x's entry or name is replaced), and be located on the lines
of its path. Found: a bad `defaults.alerts` field reported at every endpoint, `defaults` not a mapping making
every endpoint's interval missing, a set-aside route making `no route sends anything`.
"""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from slowatch.config import load_text
from slowatch.config.loader import format_path
from slowatch.errors import ConfigError, ConfigProblem

ROOT = Path(__file__).resolve().parents[2]
ENV = {
    "DEMO_HOST": "127.0.0.1:8900",
    "SLOWATCH_ALERTMANAGER_1": "http://127.0.0.1:9093",
    "SLOWATCH_ALERTMANAGER_2": "http://127.0.0.1:9094",
}
BAD_VALUES: list[Any] = ["zz", -5, 10**9, [1], {"a": 1}, "5x", "0s", True, None, 3.5, "", "-1m", 101]
UNKNOWN_KEYS = ["bogus", "intervl", "objectiv", "nme"]
CASES = 120


def sources() -> dict[str, str]:
    """The shipped configs and the README's yaml blocks that are whole configs loading as they are."""
    found = {name: (ROOT / "config" / name).read_text() for name in ("slowatch.yaml", "cluster-demo.yaml")}
    for i, block in enumerate(re.findall(r"^```yaml\n(.*?)^```", (ROOT / "README.md").read_text(), re.M | re.S)):
        try:
            load_text(block, env=ENV)
        except ConfigError:
            continue
        found[f"README.md#{i}"] = block
    return found


SOURCES = sources()


def walk(node: Any, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    yield prefix, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, (*prefix, i))


def words(value: Any) -> set[str]:
    """Every string in `value`, keys too: the names an injection there can take away."""
    out: set[str] = set()
    for _, node in walk(value):
        if isinstance(node, str):
            out.add(node)
        elif isinstance(node, dict):
            out.update(k for k in node if isinstance(k, str))
    return out


def inject(data: dict[str, Any], rng: random.Random) -> tuple[tuple[str | int, ...], set[str]] | None:
    """One field error put into `data` in place: (its path, the names it took away)."""
    path = rng.choice([p for p, _ in walk(data) if p])
    parent: Any = data
    for key in path[:-1]:
        parent = parent[key]
    if rng.random() < 0.2 and isinstance(parent, dict):
        key = rng.choice(UNKNOWN_KEYS)
        parent[key] = 1
        return (*path[:-1], key), set()
    old, new = parent[path[-1]], copy.deepcopy(rng.choice(BAD_VALUES))
    if new == old:
        return None
    parent[path[-1]] = new
    return path, words(old)


def lines_of(text: str, path: str) -> tuple[int, int]:
    """The lines (1-based) of the deepest node of `path` present in `text`, from its key."""
    node = yaml.compose(text)
    first, last = node.start_mark.line + 1, node.end_mark.line + 1
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        if isinstance(node, yaml.MappingNode) and name:
            match = [(k, v) for k, v in node.value if k.value == name]
            if not match:
                break
            key, node = match[0]
            first, last = key.start_mark.line + 1, node.end_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and index and int(index) < len(node.value):
            node = node.value[int(index)]
            first, last = node.start_mark.line + 1, node.end_mark.line + 1
        else:
            break
    return first, max(first, last)


def real(problem: ConfigProblem, injected: list[tuple[tuple[str | int, ...], set[str]]]) -> bool:
    for path, names in injected:
        at = format_path(path)
        if problem.path.startswith(at) or at.startswith(problem.path):
            return True
        if any(re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", problem.message) for n in names if n):
            return True
    return False


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_every_problem_is_about_an_injected_error(source: str) -> None:
    data = yaml.safe_load(SOURCES[source])
    rng = random.Random(source)
    checked = 0
    for _ in range(CASES):
        broken = copy.deepcopy(data)
        injected = [done for _ in range(rng.choice([1, 1, 2, 3])) if (done := inject(broken, rng)) is not None]
        if not injected:
            continue
        text = yaml.safe_dump(broken, sort_keys=False)
        try:
            load_text(text, "c.yaml", env=ENV)
            continue  # (a value the field happens to accept)
        except ConfigError as exc:
            problems = exc.problems
        checked += 1
        where = [format_path(p) for p, _ in injected]
        for problem in problems:
            assert real(problem, injected), (str(problem), where)
            first, last = lines_of(text, problem.path)
            assert problem.line is None or first <= problem.line <= last, (str(problem), where)
    assert checked > CASES // 2
