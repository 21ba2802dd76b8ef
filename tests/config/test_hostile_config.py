"""Hostile edits of the shipped demo config (session h15's outside audit): each loads, or fails with the
loader's located ConfigError (file, line, field); never another exception, never a value taken wrongly.

`server.listen` took `[::1` and `::1` (port 1 on the host ':'), `[]:80` (the empty host: every interface,
when the brackets say one address was meant) and Unicode digits as a port (`127.0.0.1:٣٣`, or `:¹`, which
`int()` refused with its own words).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import slowatch
from slowatch.cli_flags import check_db, override
from slowatch.config.cluster import parse_shard
from slowatch.config.loader import load_bytes
from slowatch.errors import ConfigError
from tests.config.conftest import Errors, Loader

LISTEN = "must be HOST:PORT or [IPV6]:PORT"


@pytest.mark.parametrize(
    "listen",
    ["[::1", "::1", "[]:80", "[a]:80", "a]:80", "[[::1]]:80", "127.0.0.1:٣٣", "127.0.0.1:¹", "[::1]:", "[::1]x:80",
     "[127.0.0.1]:80"],
)  # fmt: skip
def test_a_listen_address_that_is_not_host_and_port_is_refused_where_it_is_written(errors: Errors, listen: str) -> None:
    assert errors(f'server:\n  listen: "{listen}"\n') == [f"2:11 server.listen: {LISTEN} (got {listen!r})"]


@pytest.mark.parametrize(
    ("listen", "host", "port"),
    [("127.0.0.1:9464", "127.0.0.1", 9464), ("[::1]:9464", "::1", 9464), ("::1:9464", "::1", 9464),
     ("0.0.0.0:0", "0.0.0.0", 0), ("localhost:80", "localhost", 80), ("[fe80::1%eth0]:80", "fe80::1%eth0", 80)],
)  # fmt: skip
def test_listen_addresses_people_write_still_load(load_config: Loader, listen: str, host: str, port: int) -> None:
    server = load_config(f'server:\n  listen: "{listen}"\n').server
    assert (server.host, server.port) == (host, port)


def test_a_listen_override_is_checked_the_same_way(load_config: Loader) -> None:
    config = load_config("server: {}\n")
    with pytest.raises(ValueError, match=r"^--listen: must be HOST:PORT"):
        override(config, "[::1", None, None)


@pytest.mark.parametrize("nameserver", ["10.0.0.2:¹", "10.0.0.2:٣", "[::1]:¹", "[::1]:٣٣"])
def test_a_nameserver_port_in_other_than_ascii_digits_is_refused_where_it_is_written(
    errors: Errors, nameserver: str
) -> None:
    """`:¹` was `int()`'s own words (invalid literal for int() with base 10); `:٣` was taken as port 3."""
    text = f'endpoints:\n  - {{name: d, kind: dns, query: a.example, nameserver: "{nameserver}"}}\n'
    assert errors(text) == [f"2:56 endpoints[0].nameserver: not host[:port]: {nameserver!r}"]


@pytest.mark.parametrize("shard", ["¹/4", "0/٤", "\u0660/4"])
def test_a_shard_in_other_than_ascii_digits_is_refused_in_the_flags_own_words(shard: str) -> None:
    with pytest.raises(ValueError, match=r"^--shard must be I/N, e.g. 0/4"):
        parse_shard(shard)


DEMO = (Path(slowatch.__file__).parent / "demo.yaml").read_text(encoding="utf-8")
DEMO_DATA = yaml.safe_load(DEMO)
REPLACEMENTS = [None, True, 0, -1, 10**40, 1e300, "", " ", "\t", "x" * 5000, "é\u202e", "${X}", "${X:-", "$${X}",
                "1e309", "nan", "-5s", "999999999999d", "101%", "\x00", "../../etc/passwd", [], {}, [[]], {"<<": None},
                "[::1", "Europe/Nowhere", {"calendar": "year"}, "0x10", "10:30"]  # fmt: skip
SPECIALS = ["'", '"', "[", "{", "}", ": x", " #", "\ufeff", "\x85", "\u2028", "!!binary", "!!python/object:os.system",
            "? x", "|", "%YAML 1.1", "---", "&a", "*a", "*nope", "!", "@", "`", "<<: *a", "\t"]  # fmt: skip


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        found += _paths(child, (*path, key))
    return found


PATHS = [p for p in _paths(DEMO_DATA) if p]


@st.composite
def data_mutation(draw: st.DrawFn) -> str:
    """The demo's data with values replaced or removed (anywhere), written back as YAML."""
    data = copy.deepcopy(DEMO_DATA)
    for path in draw(st.lists(st.sampled_from(PATHS), min_size=1, max_size=3)):
        parent: Any = data
        try:
            for key in path[:-1]:
                parent = parent[key]
            if draw(st.booleans()):
                parent[path[-1]] = copy.deepcopy(draw(st.sampled_from(REPLACEMENTS)))
            else:
                del parent[path[-1]]
        except (KeyError, IndexError, TypeError):  # (an earlier edit removed or replaced the way there)
            continue
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=10**9)


@st.composite
def text_mutation(draw: st.DrawFn) -> str:
    """The demo's text with lines edited: tabs, duplicated keys, anchors, aliases, merge keys, a BOM, cut lines,
    stray YAML syntax, deep nesting, a long value."""
    lines = DEMO.split("\n")
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        line = lines[i]
        indent = line[: len(line) - len(line.lstrip())]
        op = draw(st.sampled_from(["tab", "dup", "anchor", "merge", "cut", "special", "bom", "deep", "long"]))
        if op == "tab":
            lines[i] = "\t" + line
        elif op == "dup":
            lines.insert(i, line)
        elif op == "anchor":
            lines[i] = f"{line} &a" if ":" in line and not line.rstrip().endswith(":") else line
        elif op == "merge":
            lines.insert(i, indent + draw(st.sampled_from(["<<: {interval: 1s}", "<<: *a", "<<: [1]"])))
        elif op == "cut":
            lines[i] = line[: draw(st.integers(0, len(line)))]
        elif op == "special":
            lines[i] = line + draw(st.sampled_from(SPECIALS))
        elif op == "bom":
            lines[i] = "\ufeff" + line
        elif op == "deep":
            depth = draw(st.sampled_from([50, 1100]))
            lines.insert(i, indent + "deep: " + "[" * depth + "]" * draw(st.sampled_from([0, depth])))
        else:
            lines.insert(i, indent + "long: " + "x" * 200_000)
    return "\n".join(lines)


@settings(max_examples=200, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(text=st.one_of(data_mutation(), text_mutation()))
def test_a_mutated_demo_config_loads_or_fails_with_located_problems(text: str) -> None:
    try:
        load_bytes(text.encode("utf-8", "surrogatepass"), "demo.yaml", env={})
    except ConfigError as e:
        assert e.problems
        for problem in e.problems:
            assert problem.file == "demo.yaml", problem
            assert problem.line is not None or problem.message.startswith("the file is empty"), problem
            assert len(str(problem)) < 1000, str(problem)[:300]  # (long values are shortened)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('defaults: {interval: "\u0663\u0660s"}', "1:22 defaults.interval: not a duration"),  # Arabic-Indic 30s
        ('defaults: {interval: "\uff11\uff10s"}', "1:22 defaults.interval: not a duration"),  # fullwidth 10s
        ("endpoints: [{name: t, kind: http, url: 'http://h/', max_body_size: \"\u0661 MB\"}]", "max_body_size"),
        ("endpoints: [{name: t, kind: http, url: 'http://h/', expect: {status: ['2\u0660\u0660-299']}}]", "status"),
        ("consumers: [{name: c, endpoints: [], slos: [{name: a, sli: availability, objective: 99, window: 7d,"
         " policy: {freeze_below: \"\u0662\u0665%\"}}]}]", "freeze_below: not a percentage"),
    ],
)  # fmt: skip
def test_durations_sizes_statuses_and_percentages_take_ascii_digits(errors: Errors, text: str, where: str) -> None:
    """A regex's `\\d` also matches other scripts' digits, and `int`/`float` read them: an Arabic-Indic `30s` was
    30 s, a fullwidth `10s` 10 s, an Arabic-Indic `25%` 25 % (session h15)."""
    found = errors(text + "\n")
    assert any(where in problem for problem in found), found


DATABASES = {  # YAML value -> the message's end
    '"a\\0b.db"': "must not contain a NUL byte (got 'a\\x00b.db')",
    "/": "is a directory (got '/'): name the SQLite file, e.g. '/slowatch.db'",
    "data": "is a directory (got 'data'): name the SQLite file, e.g. 'data/slowatch.db'",
    '""': "must name a file (empty: SQLite would keep the history in a temporary database)",
    '" "': "must name a file (empty: SQLite would keep the history in a temporary database)",
}


@pytest.mark.parametrize("value", sorted(DATABASES))
def test_a_database_path_that_cannot_be_a_sqlite_file_is_refused_where_it_is_written(
    errors: Errors, value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`database: "a\\0b.db"` loaded and the daemon then stopped with "cannot open database a\\u0000b.db: embedded
    null byte", and `database: /` with "database / has 21 names (hard links)": neither named the file, line or
    field. A directory is one as the daemon would open it: relative to the working directory."""
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    assert errors(f"server:\n  database: {value}\n") == [f"2:13 server.database: {DATABASES[value]}"]


def test_a_database_override_is_checked_the_same_way(load_config: Loader, tmp_path: Path) -> None:
    config = load_config("server: {}\n")
    with pytest.raises(ValueError, match=r"^--db: must not contain a NUL byte"):
        override(config, None, "a\0b.db", None)
    with pytest.raises(ValueError, match=r"^--db: is a directory"):
        check_db(str(tmp_path))
    check_db(str(tmp_path / "x.db"))
    assert override(config, None, str(tmp_path / "x.db"), None).server.database == str(tmp_path / "x.db")
