"""The libyaml-based composer gives exactly what PyYAML's pure-Python composer gives: the same data,
the same line:column for every key, value and list item (alias uses included), the same problems."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slowatch.config import compose
from slowatch.config.yamldoc import Document, Mark
from slowatch.config.yamlnodes import YamlProblem, parse

pytestmark = pytest.mark.skipif(not hasattr(yaml, "CSafeLoader"), reason="PyYAML built without libyaml")

VARIED = textwrap.dedent(
    """\
    # a comment first
    server:
      listen: "127.0.0.1:9115"   # trailing comment
      database: 'data/slowatch.db'
      metrics: {histograms: false, "quoted key": [1, 2.5, -3, 0x1f, .inf, ~, null, true, no]}
    defaults: &defaults
      interval: 30s
      timeout: 5s
      headers:
        X-Token: ${TOKEN}
        Accept: "application/json; charset=ütf-8 ☃"
    endpoints:
    - name: café-api
      url: https://example.com/ä/ö?x=1&y=2
      <<: *defaults
      labels: {team: ☃, tier: critical}
    -   name: "second"
        kind: tcp
        host: 10.0.0.1
        port: 443
        tags: [a, "b", 'c', {d: e}]
    - &third
      name: third
      body: |
        line one
          indented
        line three
      folded: >-
        folded
        text
      plain: this is
        a multi-line
        plain scalar
      empty:
      explicit: !!str 123
      when: 2026-11-22T00:00:00Z
      base60: 10:30
    - *third
    - ? complex key
      : complex value
      ? [flow, key]
      : x
    consumers:
      - name: shop
        endpoints: [café-api, second]
        slos:
          - {name: avail, sli: availability, objective: 99.9, window: 30d}
    last: "tab\\tescape \\u263a"\r
    crlf: yes\r
    """
)


def _parse(text: str, *, fast: bool, monkeypatch: pytest.MonkeyPatch) -> Document | str:
    with monkeypatch.context() as m:
        if not fast:
            m.setattr(compose, "_CLoader", None)
        try:
            return parse(text, {"TOKEN": "s3cret"})
        except YamlProblem as exc:
            return f"{exc.mark}: {exc.message}"


def _same(text: str, monkeypatch: pytest.MonkeyPatch) -> Document | str:
    fast, pure = _parse(text, fast=True, monkeypatch=monkeypatch), _parse(text, fast=False, monkeypatch=monkeypatch)
    if isinstance(fast, Document) and isinstance(pure, Document):
        assert fast.data == pure.data
        assert fast.values == pure.values
        assert fast.keys == pure.keys
        assert fast.source == pure.source
        assert fast.interpolated == pure.interpolated
        assert fast.problems == pure.problems
        assert fast.poisoned == pure.poisoned
    else:
        assert fast == pure
    return fast


def test_varied_document_has_the_same_locations(monkeypatch: pytest.MonkeyPatch) -> None:
    root, aliases = compose._compose_fast(VARIED)  # the fast composer takes it (no fallback)
    assert root is not None and aliases
    doc = _same(VARIED, monkeypatch)
    assert isinstance(doc, Document)
    assert len(doc.values) > 60 and doc.data["endpoints"][3]["name"] == "third"


def test_alias_uses_are_located_where_they_are_written(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = _same("a: &x {b: 1}\nc: [*x, *x]\nd:\n  - *x\n", monkeypatch)
    assert isinstance(doc, Document)
    assert [doc.values[p] for p in (("c", 0), ("c", 1), ("d", 0))] == [Mark(2, 5), Mark(2, 9), Mark(4, 5)]


@pytest.mark.parametrize(
    "text",
    [
        "a: &a [1, *a]\n",  # recursive alias
        "defaults: *nope\n",  # undefined alias
        "a: &x 1\nb: &x 2\n",  # duplicate anchor
        "server: {}\n---\nendpoints: []\n",  # two documents
        "server:\n  listen: [1, 2\n",  # syntax error
        "server:\n  listen: a\x07\n",  # control character
        "a: " + "[" * (compose.FAST_DEPTH + 5) + "]" * (compose.FAST_DEPTH + 5) + "\n",  # deep: the pure one
        "",
        "---\n",
        "just text\n",
        "\ufeffa: 1\n",
    ],
)
def test_odd_documents_get_the_pure_composers_answer(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _same(text, monkeypatch)


def _bomb(levels: int) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_at_the_same_place(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "alias bomb" in str(_same(_bomb(8), monkeypatch))


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, width=32),
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12),
    st.sampled_from(["yes", "no", "~", "10:30", "2026-01-01", "a: b", "- x", "#", "'q'", '"dq"', "é ☃ 𝄞"]),
)
trees = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(min_size=1, max_size=6), inner, max_size=4),
    max_leaves=25,
)
documents = st.dictionaries(st.text(min_size=1, max_size=8), trees, min_size=1, max_size=5)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=documents,
    flow=st.sampled_from([None, True, False]),
    unicode=st.booleans(),
    indent=st.integers(2, 5),
    width=st.sampled_from([20, 80, 1000]),
)
def test_random_documents_have_the_same_data_and_locations(
    data: dict[str, Any], flow: bool | None, unicode: bool, indent: int, width: int
) -> None:
    text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=unicode, indent=indent, width=width)
    with pytest.MonkeyPatch.context() as monkeypatch:
        _same(text, monkeypatch)
