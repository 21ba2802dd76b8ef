"""Hostile-value audit of the config loader: every field path, many bad values, one verdict each.

    .venv/bin/python scripts/config_audit.py [--cli N] [--only SUBSTRING] [--limit N] [-v]

The base configs are the README's YAML examples (as tests/config/test_readme_examples.py builds them)
and config/slowatch.yaml. For every field path present in a base (and every field of each model met
there but absent from it: walking the pydantic models), hostile values replace the value: wrong types,
null, empty string/list/map, negative/zero/huge numbers, 1e309, .nan, .inf, long strings, control
characters, `${VAR}` unset, nested, malformed or holding a secret. Then text-level attacks on each
base: duplicated keys, anchors/aliases/merge keys, alias bombs, tags (!!python/object, !!binary, ...),
tabs, a BOM, CRLF, non-UTF-8 bytes, duplicate and unknown names.

Each case must either load, or raise ConfigError whose every problem has a line, a column and (below
the top level) a field path, never an exception of another type, and no message may hold the value of
any environment variable given (all are secrets). `--cli N` also runs `slowatch check` on N cases
(evenly spread) and requires exit 0 or 2, no "Traceback" and located lines on stderr. `--limit N` stops
after the first N cases (a smoke run: tests/test_audit_smoke.py).
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import yaml

from slowatch.config import load_text, typewalk
from slowatch.config.loader import format_path, load_bytes
from slowatch.config.schema import Config
from slowatch.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SECRET = "s3cr3t-Sentinel-9f8e7d"
ENV = {
    "SECRET_TOKEN": SECRET,
    "NL_TOKEN": "line1-Zq9x\nline2",
    "NUM_TOKEN": "-17",
    "INF_TOKEN": "1e309",
    "URL_TOKEN": "not a url Kx81",
    "EMPTY_TOKEN": "",
    "NESTED_TOKEN": "${SECRET_TOKEN}",
}
SECRETS = [SECRET, "line1-Zq9x", "Kx81", "not a url"]

HOSTILE: list[tuple[str, Any]] = [
    ("null", None),
    ("true", True),
    ("int0", 0),
    ("neg", -1),
    ("huge", 10**30),
    ("float", 0.5),
    ("negfloat", -1e-9),
    ("empty-str", ""),
    ("space-str", "   "),
    ("word", "banana"),
    ("empty-list", []),
    ("list", [1, "x"]),
    ("empty-map", {}),
    ("map", {"x": 1}),
    ("long", "a" * 100_000),
    ("ctrl", "a\x00b\x1bc\r\nd"),
    ("unicode", "\u202e\ufeff\U0001f525"),
    ("unset", "${UNSET_TOKEN_QQ}"),
    ("secret", "${SECRET_TOKEN}"),
    ("secret-mid", "x-${SECRET_TOKEN}-y"),
    ("nl-secret", "${NL_TOKEN}"),
    ("num-secret", "${NUM_TOKEN}"),
    ("inf-secret", "${INF_TOKEN}"),
    ("url-secret", "${URL_TOKEN}"),
    ("empty-secret", "${EMPTY_TOKEN}"),
    ("nested", "${NESTED_TOKEN}"),
    ("nested-syntax", "${${SECRET_TOKEN}}"),
    ("bad-syntax", "${SECRET_TOKEN"),
    ("default-secret", "${UNSET_Q:-${SECRET_TOKEN}}"),
    ("dollar", "$$"),
]
# written as YAML text (not representable through safe_dump as such)
RAW: list[tuple[str, str]] = [
    ("1e309", "1e309"),
    ("-1e309", "-1e309"),
    (".nan", ".nan"),
    (".inf", ".inf"),
    ("-.inf", "-.inf"),
    ("python-obj", "!!python/object:os.system {}"),
    ("python-apply", "!!python/object/apply:os.system ['true']"),
    ("binary", "!!binary aGVsbG8="),
    ("set", "!!set {a, b}"),
    ("omap", "!!omap [a: 1]"),
    ("timestamp", "2001-12-14t21:59:43.10-05:00"),
    ("custom-tag", "!foo bar"),
    ("int-tag-str", "!!int '12'"),
    ("str-tag", "!!str 12"),
    ("base60", "1:30"),
    ("octal", "0o17"),
    ("hex", "0x1F"),
    ("yes", "yes"),
    ("tilde", "~"),
    ("big-int", "9" * 5000),
]


def readme_bases() -> list[tuple[str, dict[str, Any]]]:
    spec = importlib.util.spec_from_file_location("rx", ROOT / "tests/config/test_readme_examples.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["rx"] = module
    spec.loader.exec_module(module)
    bases = []
    for line, block in module.examples():
        try:
            config = module.as_config(block)
        except Exception:
            continue
        if config is None:
            continue
        env = module.env_for(block)
        text = yaml.safe_dump(config, sort_keys=False)
        # interpolate the README's own variables away: the audit's env is the only environment
        for name, value in env.items():
            text = text.replace("${" + name + "}", value.replace("'", "''"))
        data = yaml.safe_load(text)
        try:
            load_text(yaml.safe_dump(data, sort_keys=False), "base", env=ENV)
        except ConfigError:
            continue
        bases.append((f"README.md:{line}", data))
    shipped = (ROOT / "config/slowatch.yaml").read_text()
    data = yaml.safe_load(shipped)
    text = yaml.safe_dump(data, sort_keys=False)
    import re

    text = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", text)
    bases.append(("config/slowatch.yaml", yaml.safe_load(text)))
    return bases


def leaf_paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path, leaves and containers alike."""
    if path:
        yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaf_paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from leaf_paths(value, (*path, i))


def absent_fields(data: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    """Fields of the models met in `data` that `data` does not set (walking the pydantic models)."""
    for path in [(), *leaf_paths(data)]:
        node: Any = data
        for key in path:
            node = node[key]
        if not isinstance(node, dict):
            continue
        for name in typewalk.field_names(typewalk.types_at(Config, data, path)):
            if name not in node:
                yield (*path, name)


def set_at(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    node: Any = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


MARKER = "RAWVALUEMARKERQQ"


def dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10**9)


Case = tuple[str, bytes, tuple[Any, ...] | None]


def cases(bases: list[tuple[str, dict[str, Any]]], full: bool) -> Iterator[Case]:
    seen: set[tuple[Any, ...]] = set()
    for base_name, data in bases:
        paths = list(leaf_paths(data)) + list(absent_fields(data))
        for path in paths:
            shape = (base_name if full else "", tuple(k if isinstance(k, str) else 0 for k in path))
            if shape in seen:
                continue
            seen.add(shape)
            where = f"{base_name} {'.'.join(map(str, path))}"
            for name, value in HOSTILE:
                yield f"{where} = {name}", dump(set_at(data, path, value)).encode(), path
            for name, raw in RAW:
                text = dump(set_at(data, path, MARKER))
                yield f"{where} = {name}", text.replace(MARKER, raw).encode(), path
        yield from ((n, r, None) for n, r in text_attacks(base_name, data))


def text_attacks(base_name: str, data: dict[str, Any]) -> Iterator[tuple[str, bytes]]:
    text = dump(data)
    lines = text.splitlines(keepends=True)
    w = f"{base_name} text"
    yield f"{w} BOM", b"\xef\xbb\xbf" + text.encode()
    yield f"{w} CRLF", text.replace("\n", "\r\n").encode()
    yield f"{w} CR only", text.replace("\n", "\r").encode()
    yield f"{w} latin-1 byte", text.encode().replace(b"\n", b" # caf\xe9\n", 3)
    yield f"{w} NUL byte", text.encode().replace(b"\n", b"\x00\n", 2)
    yield f"{w} tab indent", "".join(ln.replace("  ", "\t", 1) if ln.startswith("  ") else ln for ln in lines).encode()
    yield f"{w} tab after colon", text.replace(": ", ":\t", 5).encode()
    yield f"{w} utf-16", text.encode("utf-16")
    yield f"{w} empty", b""
    yield f"{w} only comment", b"# nothing\n"
    yield f"{w} list top", b"- a\n- b\n"
    yield f"{w} scalar top", b"hello\n"
    yield f"{w} two docs", (text + "---\n" + text).encode()
    yield f"{w} doc end junk", (text + "...\n%YAML 1.1\n").encode()
    for i, line in enumerate(lines):  # duplicate each top-level key and each first-level key once
        if line[:1].isalpha() or (line.startswith("  ") and line[2:3].isalpha()):
            yield f"{w} dup key line {i + 1}", "".join([*lines[: i + 1], line, *lines[i + 1 :]]).encode()
    # anchors, aliases and merges on top-level sections
    for key in data:
        sub = dump({key: data[key]})
        yield f"{w} anchor+alias {key}", (text.replace(f"{key}:", f"{key}: &A", 1) + "x-extra: *A\n").encode()
        yield f"{w} self alias {key}", text.replace(f"{key}:", f"{key}: &A\n  - *A\n", 1).encode()
        yield f"{w} merge bad {key}", text.replace(f"{key}:", f"{key}:\n  <<: 5\n", 1).encode()
        yield f"{w} merge list {key}", text.replace(f"{key}:", f"{key}:\n  <<: [*Z]\n", 1).encode()
        del sub
    for section in ("endpoints", "consumers"):
        if isinstance(data.get(section), list) and data[section]:
            first = dump({section: data[section][:1]}).splitlines()
            anchored = [first[0], first[1].replace("- ", "- &ITEM ", 1), *first[2:]]
            merged = "\n".join([*anchored, "- <<: *ITEM", "  name: merged-copy", "- *ITEM", ""])
            yield (
                f"{w} merge item {section}",
                dump({k: v for k, v in data.items() if k != section}).encode() + merged.encode(),
            )
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 12):
        bomb += f"{chr(97 + i)}: &{chr(97 + i)} [{', '.join(['*' + chr(96 + i)] * 9)}]\n"
    yield f"{w} billion laughs", (bomb + text).encode()
    yield (
        f"{w} billion laughs in field",
        text.replace("endpoints:", bomb.replace("\n", "\n  ") + "\nendpoints:", 1).encode(),
    )
    yield f"{w} deep nesting", (text + "deep: " + "[" * 5000 + "]" * 5000 + "\n").encode()
    yield f"{w} deep map nesting", (text + "deep: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n").encode()
    yield f"{w} anchor unknown", (text + "x: *nothere\n").encode()
    yield f"{w} complex key", (text + "? [a, b]\n: 1\n").encode()
    yield f"{w} int key", (text + "5: 1\n").encode()
    yield f"{w} null key", (text + "~: 1\n").encode()
    yield f"{w} bool key", (text + "true: 1\n").encode()
    yield f"{w} long line", (text + "x: " + "a" * 2_000_000 + "\n").encode()
    # names
    for section in ("endpoints", "consumers", "maintenance", "routes"):
        items = data.get(section)
        if isinstance(items, list) and items and isinstance(items[0], dict):
            yield f"{base_name} dup name {section}", dump({**data, section: [items[0], *items]}).encode()
            yield f"{base_name} dup name {section} last", dump({**data, section: [*items, items[0]]}).encode()
    for ci, consumer in enumerate(data.get("consumers") or []):
        slos = consumer.get("slos") or []
        if slos:
            c2 = {**consumer, "slos": [*slos, slos[0]]}
            yield f"{base_name} dup slo", dump(set_at(data, ("consumers", ci), c2)).encode()
            c3 = {**consumer, "slos": [{**slos[0], "endpoints": ["no-such-ep"]}, *slos[1:]]}
            yield f"{base_name} slo unknown ep", dump(set_at(data, ("consumers", ci), c3)).encode()
        c4 = {**consumer, "endpoints": [*(consumer.get("endpoints") or []), "no-such-ep", {"labels": {"zz": "q"}}]}
        yield f"{base_name} consumer unknown ep", dump(set_at(data, ("consumers", ci), c4)).encode()
    if isinstance(data.get("sinks"), dict):
        yield f"{base_name} route unknown sink", dump({**data, "routes": [{"match": {}, "sinks": ["nope"]}]}).encode()


def verdict(name: str, raw: bytes, mutated: tuple[Any, ...] | None) -> tuple[str, str]:
    """('ok'|'error'|'BUG-...', detail)."""
    try:
        load_bytes(raw, "audit.yaml", env=ENV)
    except ConfigError as exc:
        for problem in exc.problems:
            text = str(problem)
            if (problem.line is None or problem.column is None) and not problem.message.startswith("the file is empty"):
                return "BUG-unlocated", text
            if problem.file != "audit.yaml":
                return "BUG-file", text
            if len(text) > 1000:
                return "BUG-long", text[:300]
            leaked = [s for s in SECRETS if s in text]
            if leaked:
                return "BUG-secret", text[:300]
            if not problem.path and not problem.message.startswith(
                (
                    "invalid YAML",
                    "the top level",
                    "not UTF-8",
                    "aliases expand",
                    "an alias",
                    "mapping keys",
                    "the file is empty",
                )
            ):
                return "BUG-nofield", text[:300]
        if mutated is not None:
            parent = format_path(mutated[:-1])
            if not any(p.path.startswith(parent) or parent.startswith(p.path) for p in exc.problems):
                return "WARN-elsewhere", str(exc.problems[0])[:300]
        return "error", str(exc.problems[0])[:200]
    except RecursionError:
        return "BUG-exception", "RecursionError"
    except Exception as exc:  # the audit's point
        return "BUG-exception", "".join(traceback.format_exception_only(exc)).strip()[:300]
    return "ok", ""


def run_cli(raw: bytes) -> tuple[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "audit.yaml"
        path.write_bytes(raw)
        env = {**os.environ, **ENV}
        proc = subprocess.run(
            [sys.executable, "-m", "slowatch", "check", str(path)], capture_output=True, env=env, timeout=120
        )
    err = proc.stderr.decode(errors="replace")
    out = proc.stdout.decode(errors="replace")
    if "Traceback" in err or proc.returncode not in (0, 2):
        return "BUG-cli", f"rc={proc.returncode} {err[-400:]}"
    if any(s in err or s in out for s in SECRETS):
        return "BUG-cli-secret", err[:300]
    if proc.returncode == 2:
        lines = [ln for ln in err.splitlines() if ln and not ln.endswith("error(s)")]
        bad = [ln for ln in lines if not ln.startswith(str(path) + ":") or not ln.split(" ")[0].count(":") >= 2]
        if bad:
            return "BUG-cli-unlocated", bad[0][:300]
        return "error", ""
    return "ok", ""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cli", type=int, default=0)
    parser.add_argument("--only", default="")
    parser.add_argument("--full", action="store_true", help="every base's paths, not each path shape once")
    parser.add_argument("--limit", type=int, default=0, help="at most this many cases (the first ones)")
    parser.add_argument("-v", action="store_true")
    args = parser.parse_args()
    bases = readme_bases()
    started = time.process_time()
    tally: Counter[str] = Counter()
    bugs: list[tuple[str, str, str]] = []
    collected = list(islice((c for c in cases(bases, args.full) if args.only in c[0]), args.limit or None))
    for name, raw, mutated in collected:
        kind, detail = verdict(name, raw, mutated)
        tally[kind] += 1
        if kind.startswith(("BUG", "WARN")):
            bugs.append((kind, name, detail))
            if args.v:
                print(kind, name, detail, flush=True)
    if args.cli:
        step = max(1, len(collected) // args.cli)
        for name, raw, _ in collected[::step][: args.cli]:
            kind, detail = run_cli(raw)
            tally["cli-" + kind] += 1
            if kind.startswith("BUG"):
                bugs.append((kind, name, detail))
    print(f"{len(bases)} bases, {len(collected)} cases, CPU {time.process_time() - started:.1f}s: {dict(tally)}")
    grouped: dict[tuple[str, str], list[str]] = {}
    for kind, name, detail in bugs:
        grouped.setdefault((kind, detail[:120]), []).append(name)
    for (kind, detail), names in sorted(grouped.items()):
        print(f"{kind} x{len(names)}: {detail}\n    e.g. {names[0]}")
    return 1 if any(kind.startswith("BUG") for kind, _, _ in bugs) else 0


if __name__ == "__main__":
    sys.exit(main())
