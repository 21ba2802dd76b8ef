"""YAML-level problems: syntax, shape, duplicate keys, aliases, tags, and recorded locations."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from slowatch.config import load, load_text
from slowatch.config.yamldoc import Mark
from slowatch.config.yamlnodes import YamlProblem, parse
from slowatch.errors import ConfigError
from tests.config.conftest import Errors, Loader


def test_syntax_error_is_located(errors: Errors) -> None:
    assert errors("server:\n  listen: [1, 2\n") == [
        "3:1: invalid YAML: expected ',' or ']', but got '<stream end>' (while parsing a flow sequence on line 2)"
    ]


def test_mapping_value_in_a_plain_scalar(errors: Errors) -> None:
    assert errors("server:\n  listen: a: b\n") == ["2:12: invalid YAML: mapping values are not allowed here"]


@pytest.mark.parametrize("text", ["", "# only a comment\n", "~\n", "---\n"])
def test_empty_file(errors: Errors, text: str) -> None:
    assert errors(text) == ["the file is empty: expected a mapping with server, defaults, endpoints, ..."]


@pytest.mark.parametrize(("text", "got"), [("- name: a\n", "a list"), ("just text\n", "a single value")])
def test_top_level_must_be_a_mapping(errors: Errors, text: str, got: str) -> None:
    assert errors(text) == [f"1:1: the top level must be a mapping with server, defaults, endpoints, ... (got {got})"]


def test_one_document_only(errors: Errors) -> None:
    assert errors("server: {}\n---\nendpoints: []\n") == [
        "2:1: invalid YAML: expected a single document in the stream, but found another document"
    ]


def test_duplicate_keys_point_at_the_second(errors: Errors) -> None:
    text = """\
    server:
      listen: 127.0.0.1:1
      listen: 127.0.0.1:2
    server: {}
    """
    assert errors(text) == [
        "3:3 server.listen: duplicate key 'listen' (first on line 2)",
        "4:1 server: duplicate key 'server' (first on line 1)",
    ]


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load(missing)
    assert [str(p) for p in info.value.problems] == [f"{missing}: cannot read the file: No such file or directory"]
    with pytest.raises(ConfigError) as info:
        load(tmp_path)
    assert [str(p) for p in info.value.problems] == [
        f"{tmp_path}: is a directory, not a regular file: point --config at the YAML file itself"
    ]


def test_not_utf8(config_path: Path) -> None:
    config_path.write_bytes(b"server:\n  listen: caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        load(config_path)
    assert [str(p) for p in info.value.problems] == [f"{config_path}:2:14: not UTF-8 text"]


def test_control_character(errors: Errors) -> None:
    assert errors("server:\n  listen: a\x07\n") == ["2:12: invalid YAML: unacceptable character #x0007"]


def _billion_laughs(levels: int) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_fast_and_located() -> None:
    started = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        load_text(_billion_laughs(30), "bomb.yaml")  # 9**30 values if it were expanded
    assert time.perf_counter() - started < 1.0
    assert [str(p) for p in info.value.problems] == [
        "bomb.yaml:6:10: aliases expand the document beyond 100000 values (an alias bomb?)"
    ]


def test_small_anchors_are_fine() -> None:
    doc = parse(_billion_laughs(4), {})  # 9**4 = 6561 values once expanded
    assert len(doc.data["a3"]) == 9 and doc.data["a3"][8][8][8][8] == "lol"


def test_expansion_limit_is_a_parameter() -> None:
    parse(_billion_laughs(3), {}, max_nodes=1000)
    with pytest.raises(Exception, match="beyond 100 values"):
        parse(_billion_laughs(3), {}, max_nodes=100)


@pytest.mark.parametrize(("text", "col"), [("a: &a [1, *a]\n", 11), ("a: &a {b: {c: *a}}\n", 15)])
def test_recursive_alias(errors: Errors, text: str, col: int) -> None:
    assert errors(text) == [f"1:{col}: an alias refers to a node that contains it"]


def test_undefined_alias(errors: Errors) -> None:
    assert errors("defaults: *nope\n") == ["1:11: invalid YAML: found undefined alias 'nope'"]


def test_merge_keys_and_explicit_keys_win(load_config: Loader) -> None:
    config = load_config(
        """\
        defaults: &timing {interval: 10s, timeout: 2s}
        endpoints:
          - <<: *timing
            name: a
            kind: http
            url: http://a.example/
            timeout: 3s
          - timeout: 4s
            <<: *timing
            name: b
            kind: http
            url: http://b.example/
          - <<: [*timing, {timeout: 9s, retries: 2}]
            name: c
            kind: http
            url: http://c.example/
        """
    )
    timings = [(ep.interval, ep.timeout, ep.retries) for ep in config.endpoints]
    assert timings == [(10.0, 3.0, 0), (10.0, 4.0, 0), (10.0, 2.0, 2)]


def test_errors_in_merged_values_point_into_the_anchor(errors: Errors) -> None:
    text = """\
    x: &base {kind: http, url: http://a.example/, retries: 99}
    endpoints:
      - <<: *base
        name: a
    """
    assert errors(text) == [
        "1:1 x: unknown field 'x'",
        "1:56 endpoints[0].retries: must be at most 10 (got 99)",
    ]


def test_merge_needs_a_mapping(errors: Errors) -> None:
    assert errors("server:\n  <<: 5\n") == ["2:7 server: a merge key (<<) needs a mapping or a list of mappings"]


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        ("!!python/object/apply:os.system ['true']", "!!python/object/apply:os.system"),
        ("!!binary aGk=", "!!binary"),
        ("!!set {a, b}", "!!set"),
        ("!custom x", "!custom"),
    ],
)
def test_unsupported_tags_are_refused(errors: Errors, value: str, tag: str) -> None:
    assert errors(f"server:\n  listen: {value}\n") == [f"2:11 server.listen: unsupported YAML tag {tag!r}"]


def test_scalars() -> None:
    doc = parse("a: 10:30\nb: 2026-12-01\nc: 0x1f\nd: 1.5\ne: yes\nf: ~\ng: '12'\n200: ok\n", {})
    assert doc.data == {
        "a": "10:30",
        "b": "2026-12-01",
        "c": 31,
        "d": 1.5,
        "e": True,
        "f": None,
        "g": "12",
        "200": "ok",
    }


def test_locations_are_recorded_per_path() -> None:
    doc = parse("endpoints:\n  - name: a\n    labels: {team: x}\n  - name: b\n", {})
    assert doc.keys[("endpoints",)] == Mark(1, 1)
    assert doc.values[("endpoints", 0)] == Mark(2, 5)
    assert doc.keys[("endpoints", 0, "labels")] == Mark(3, 5)
    assert doc.values[("endpoints", 0, "labels", "team")] == Mark(3, 20)
    assert doc.values[("endpoints", 1, "name")] == Mark(4, 11)
    assert doc.source[("endpoints", 1, "name")] == "b"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("server: " + "[" * 5000 + "]" * 5000 + "\n", "1:1008"),  # (libyaml's own limit: 1,000 flow levels)
        ("server: {}\ndeep: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n", "2:403"),
        ("server:\n" + "".join(" " * i + "- \n" for i in range(2, 2000, 2)), "101:201"),
    ],
)
def test_absurd_nesting_is_a_located_error_not_a_crash(errors: Errors, text: str, where: str) -> None:
    """Located where the nesting passes 100 levels (it had no line: `slowatch check` printed the file name only)."""
    assert errors(text) == [f"{where}: invalid YAML: nested too deeply"]


def test_a_valid_document_is_loaded_without_a_position_per_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """Positions are for problems: a valid load keeps none (~300 MB at 100,000 endpoints); a document
    with a problem is parsed again, locating, so its problems still say where they are."""
    text = (
        "server: {listen: 127.0.0.1:9000}\n"
        "defaults: &d {interval: 30s}\n"
        "endpoints:\n"
        "  - {name: a, kind: http, url: 'http://127.0.0.1:1/${PORT_PATH}', interval: 10s}\n"
        "  - name: b\n    kind: http\n    url: http://127.0.0.1:2/\n    <<: *d\n"
    )
    env = {"PORT_PATH": "x"}
    lean, located = parse(text, env, locate=False), parse(text, env)
    assert lean.data == located.data
    assert (lean.values, lean.keys, lean.problems) == ({}, {}, [])
    assert lean.source == {("endpoints", 0, "url"): "http://127.0.0.1:1/${PORT_PATH}"}  # (what conceal.py reads)
    assert lean.interpolated == located.interpolated and located.values and located.keys
    duplicate = parse("a: 1\nb: 2\na: 3\n", {}, locate=False)
    assert [(path, message) for path, _, message in duplicate.problems] == [(("a",), "duplicate key")]

    located_parses = []
    real = parse

    def counting(text: str, env: dict[str, str], **kw: bool) -> object:
        located_parses.append(kw.get("locate", True))
        return real(text, env, **kw)

    monkeypatch.setattr("slowatch.config.loader.parse", counting)
    load_text(text.replace("${PORT_PATH}", "x"), env={})
    assert located_parses == [False]
    with pytest.raises(ConfigError) as err:
        load_text(text.replace("interval: 10s", "interval: soon"), env=env)
    assert located_parses == [False, False, True]
    assert [(p.line, p.path) for p in err.value.problems] == [(4, "endpoints[0].interval")]


def test_an_integer_too_long_for_python_is_a_located_error(errors: Errors) -> None:
    """Python refuses int() of more than 4,300 decimal digits (a ValueError): it was a traceback."""
    assert errors("server:\n  max_concurrency: " + "9" * 5000 + "\n") == [
        "2:20 server.max_concurrency: a whole number of 5000 digits is too long (at most 4300)"
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("!!int abc", "'abc' is not a whole number (tag !!int)"),
        ("!!int 0x", "'0x' is not a whole number (tag !!int)"),
        ('!!int ""', "'' is not a whole number (tag !!int)"),
        ("!!float abc", "'abc' is not a number (tag !!float)"),
        ("!!bool maybe", "'maybe' is not true or false (tag !!bool)"),
    ],
)
def test_an_explicit_scalar_tag_on_a_value_it_cannot_read_is_a_located_error(
    errors: Errors, value: str, message: str
) -> None:
    """PyYAML's constructors raise ValueError, IndexError or KeyError on these: a traceback from `check`, or
    for `!!int abc` the digit-limit message (it says nothing of 3 letters)."""
    assert errors(f"server:\n  max_concurrency: {value}\n") == [f"2:20 server.max_concurrency: {message}"]


@pytest.mark.parametrize("composer", ["fast", "pure"])
def test_a_document_of_too_many_values_is_refused_where_it_crosses_the_limit(composer: str) -> None:
    """A 50 MB flow list (`x: [a,a,...]`, 25 M values) took over 6 GB before the loader ran out of memory: the
    composers stop at `max_values` nodes. (A byte-order mark inside the text sends it to the pure composer.)"""
    text = "server: {}\n" + ("# \ufeff\n" if composer == "pure" else "") + "x: [" + "a, " * 2000 + "a]\n"
    line = 3 if composer == "pure" else 2
    with pytest.raises(YamlProblem) as info:
        parse(text, {}, max_values=1000)
    assert info.value.message == "the document holds more than 1,000 values (is this the right file?)"
    # the document's mapping, server, {}, x and the list are 5 nodes: item 996 (column 5 + 3 * 995) is the 1001st
    assert info.value.mark == Mark(line, 5 + 3 * 995)
    parse("server: {}\nx: [" + "a, " * 990 + "a]\n", {}, max_values=1000)


def test_too_many_values_is_a_located_config_error_by_default(tmp_path: Path) -> None:
    from slowatch.config.compose import MAX_VALUES

    assert 6_000_000 < MAX_VALUES <= 12_000_000  # ~5.6 M at 100,000 rich endpoints (below); ~1.9 GB at the limit
    path = tmp_path / "huge.yaml"
    path.write_text("endpoints: []\nx: [" + "1," * 100 + "1]\n")
    with pytest.raises(ConfigError) as info:
        load_text(path.read_text(), str(path))
    assert "unknown field 'x'" in str(info.value)  # (a small file: only its unknown field)


RICH_ENDPOINT = """\
  - name: payments-api-{i:06d}
    kind: http
    url: https://payments-{i}.internal.example/healthz
    interval: 30s
    timeout: 5s
    retries: 1
    retry_delay: 500ms
    labels: {{team: payments, env: prod, region: eu-west-1, service: payments, tier: critical}}
    headers: {{Authorization: "Bearer x", User-Agent: slowatch, Accept: application/json}}
    depends_on: [auth-api]
    expect: {{status: [200, 204], body: [{{json_path: $.status, equals: up}}, {{json_path: $.db, equals: ok}}]}}
"""


def test_a_100000_endpoint_config_of_rich_endpoints_is_within_the_value_limit() -> None:
    """Endpoints with labels, headers and two body checks each are 56 nodes: 100,000 of them (47 MiB, under
    the 64 MiB file limit) were refused at the 5,000,000-value limit ('is this the right file?'), 89,000
    endpoints in. A hundredth of them must fit in a hundredth of the limit (the whole file: 29 s, 2.0 GB)."""
    from slowatch.config.compose import MAX_VALUES

    text = "endpoints:\n  - {name: auth-api, kind: http, url: 'http://127.0.0.1:1/auth'}\n" + "".join(
        RICH_ENDPOINT.format(i=i) for i in range(1000)
    )
    parse(text, {}, max_values=MAX_VALUES // 100)
    assert len(load_text(text).endpoints) == 1001  # (a valid config, not just YAML)


@pytest.mark.parametrize("text", ["server:\n\tlisten: x\n", "endpoints:\n  - name: api\n\t  kind: http\n"])
def test_a_tab_indenting_a_line_says_yaml_indents_with_spaces(errors: Errors, text: str) -> None:
    """A line pasted from a tab-indented editor: PyYAML's "cannot start any token" names no fix."""
    line = text.count("\n", 0, text.index("\t")) + 1
    assert errors(text) == [
        f"{line}:1: invalid YAML: found character '\\t' that cannot start any token (indent with spaces, not tabs)"
    ]
