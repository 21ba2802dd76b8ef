"""Pydantic's errors, rewritten as located plain-English problems."""

from __future__ import annotations

import pytest

from slowatch.config.loader import _shorten, format_path
from slowatch.probes.registry import KINDS
from tests.config.conftest import Errors

HTTP = "  - name: {name}\n    kind: http\n    url: http://{name}.example/\n"


def test_unknown_field_with_suggestion_points_at_the_key(errors: Errors) -> None:
    text = "endpoints:\n" + HTTP.format(name="a") + "    intervall: 5s\n    colour: red\n"
    assert errors(text) == [
        "5:5 endpoints[0].intervall: unknown field 'intervall' (did you mean 'interval'?)",
        "6:5 endpoints[0].colour: unknown field 'colour'",
    ]


def test_unknown_top_level_section(errors: Errors) -> None:
    assert errors("endpoint: []\n") == ["1:1 endpoint: unknown field 'endpoint' (did you mean 'endpoints'?)"]


def test_required_field_missing_is_located_at_its_mapping(errors: Errors) -> None:
    assert errors("endpoints:\n  - name: a\n    kind: http\n") == ["2:5 endpoints[0].url: required field missing"]


def test_unknown_and_missing_kind(errors: Errors) -> None:
    text = "endpoints:\n  - name: a\n    kind: htp\n  - name: b\n    url: http://b/\n"
    kinds = ", ".join(KINDS)  # every registered kind, in registry order (= the Endpoint union's, test_layers.py)
    assert errors(text) == [
        f"3:11 endpoints[0].kind: unknown kind 'htp' (expected one of: {kinds})",
        f"4:5 endpoints[1].kind: required field missing (expected one of: {kinds})",
    ]


def test_interval_must_be_at_least_one_second(errors: Errors) -> None:
    text = "endpoints:\n" + HTTP.format(name="a") + HTTP.format(name="b") + "    interval: 0s\n"
    assert errors(text) == ["8:15 endpoints[1].interval: must be at least 1s (got '0s')"]


def test_default_interval_is_reported_once_at_defaults(errors: Errors) -> None:
    text = "defaults:\n  interval: 500ms\nendpoints:\n" + HTTP.format(name="a") + HTTP.format(name="b")
    assert errors(text) == ["2:13 defaults.interval: must be at least 1s (got '500ms')"]


@pytest.mark.parametrize(
    ("alerts", "expected"),
    [
        ("failure_threshold: [1]", "3:5 defaults.alerts.failure_threshold: must be a whole number (got a list)"),
        (
            "failur_threshold: 2",
            "3:5 defaults.alerts.failur_threshold: unknown field 'failur_threshold'"
            " (did you mean 'failure_threshold'?)",
        ),
    ],
)
def test_a_bad_default_alerts_field_is_reported_once_at_defaults(errors: Errors, alerts: str, expected: str) -> None:
    """`defaults.alerts` is merged into each endpoint's `alerts` (Config._apply_defaults): its bad field was also
    reported at every endpoint (not setting that field itself), at the endpoint's entry (`endpoints[0]: must be
    a whole number (got a mapping)`, the mapping being the endpoint)."""
    text = f"defaults:\n  alerts:\n    {alerts}\nendpoints:\n" + HTTP.format(name="a") + HTTP.format(name="b")
    text += "    alerts: {success_threshold: 2}\n"
    assert errors(text) == [expected]


def test_defaults_that_are_not_a_mapping_are_the_one_problem(errors: Errors) -> None:
    """Not a mapping, `defaults` gave no interval or timeout to the endpoints: each was reported as missing both."""
    text = "defaults: 10s\nendpoints:\n" + HTTP.format(name="a") + HTTP.format(name="b")
    assert errors(text) == ["1:11 defaults: must be a mapping (got '10s')"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("retries: many", "5:14 endpoints[0].retries: must be a whole number (got 'many')"),
        ("retries: 11", "5:14 endpoints[0].retries: must be at most 10 (got 11)"),
        ("retries: -1", "5:14 endpoints[0].retries: must be at least 0 (got -1)"),
        ("retries: 1.5", "5:14 endpoints[0].retries: must be a whole number (got 1.5)"),
        ("enabled: perhaps", "5:14 endpoints[0].enabled: must be true or false (got 'perhaps')"),
        ("timeout: soon", "5:14 endpoints[0].timeout: not a duration: 'soon' (use e.g. 500ms, 15s, 5m, 1h, 30d)"),
        ("labels: [a]", "5:5 endpoints[0].labels: must be a mapping (got a list)"),
        ("labels: {team: {a: 1}}", "5:14 endpoints[0].labels.team: must be a string (got a mapping)"),
        ("name: a b", "5:11 endpoints[0].name: must match ^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$ (got 'a b')"),
    ],
)
def test_field_errors(errors: Errors, line: str, expected: str) -> None:
    text = "endpoints:\n" + HTTP.format(name="a") + f"    {line}\n"
    if line.startswith("name:"):
        text = text.replace("  - name: a\n", "  -\n", 1)
    assert errors(text) == [expected]


def test_literal_and_empty_value(errors: Errors) -> None:
    assert errors("server:\n  log_format: yaml\n  jitter:\n") == [
        "2:15 server.log_format: must be 'text' or 'json' (got 'yaml')",
        "3:3 server.jitter: must be a number (got nothing)",
    ]


def test_section_of_the_wrong_shape(errors: Errors) -> None:
    assert errors("server: []\nendpoints: {a: 1}\n") == [
        "1:1 server: must be a mapping (got a list)",
        "2:1 endpoints: must be a list (got a mapping)",
    ]


def test_plain_union_alternatives_are_merged(errors: Errors) -> None:
    text = (
        "endpoints:\n"
        + HTTP.format(name="a")
        + "consumers:\n  - name: c\n    endpoints: [a, 7, {labels: {t: x}, lables: 1}]\n"
    )
    assert errors(text) == [
        "7:20 consumers[0].endpoints[1]: must be a string or a mapping with labels (got 7)",
        "7:40 consumers[0].endpoints[2].lables: unknown field 'lables' (did you mean 'labels'?)",
    ]


def test_a_field_of_two_forms_says_both_in_plain_words(errors: Errors) -> None:
    """`window: 30 days` read "not a duration: ...; or must be a mapping": the other form was not said."""
    slo = "      - {{name: s{i}, objective: 99, window: {window}}}\n"
    text = (
        "server:\n  auth:\n    operator_tokens: [short]\nendpoints:\n"
        + HTTP.format(name="a")
        + "consumers:\n  - name: c\n    endpoints: [a]\n    slos:\n"
        + "".join(slo.format(i=i, window=w) for i, w in enumerate(("30 days", "month", "30m")))
    )
    calendar = "also accepted: a mapping with calendar (week, month or quarter) and optionally timezone"
    assert errors(text) == [
        "3:23 server.auth.operator_tokens[0]: a token must be at least 16 characters (e.g. `openssl rand -hex 24`);"
        " also accepted: a mapping with name and token",
        f"12:43 consumers[0].slos[0].window: not a duration: '30 days' (use e.g. 500ms, 15s, 5m, 1h, 30d); {calendar}",
        f"13:43 consumers[0].slos[1].window: a calendar window is written {{calendar: month}}; {calendar}",
        "14:43 consumers[0].slos[2].window: a rolling window must be a whole number of hours (e.g. 7d, 30d, 36h);"
        f" {calendar}",
    ]


def test_every_problem_is_reported_sorted_by_line(errors: Errors) -> None:
    text = """\
    server:
      listen: nowhere
      max_concurrency: 0
    endpoints:
      - name: a
        kind: http
        url: ftp://a.example/
        interval: 0s
        timeout: 1x
      - name: b
        kind: tcp
        host: db.example
        port: 70000
    consumers:
      - name: c
        endpoints: [a]
        slo: []
    """
    assert errors(text) == [
        "2:11 server.listen: must be HOST:PORT or [IPV6]:PORT (got 'nowhere')",
        "3:20 server.max_concurrency: must be at least 1 (got 0)",
        "7:10 endpoints[0].url: must be an http:// or https:// URL",
        "8:15 endpoints[0].interval: must be at least 1s (got '0s')",
        "9:14 endpoints[0].timeout: not a duration: '1x' (use e.g. 500ms, 15s, 5m, 1h, 30d)",
        "13:11 endpoints[1].port: must be at most 65535 (got 70000)",
        "17:5 consumers[0].slo: unknown field 'slo' (did you mean 'slos'?)",
    ]


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (("endpoints", 1, "interval"), "endpoints[1].interval"),
        (("endpoints", 0, "headers", "X-Token"), "endpoints[0].headers.X-Token"),
        (("endpoints", 0, "labels", "app.kubernetes.io/name"), "endpoints[0].labels['app.kubernetes.io/name']"),
        ((), ""),
    ],
)
def test_format_path(path: tuple[str | int, ...], text: str) -> None:
    assert format_path(path) == text


@pytest.mark.parametrize(
    ("field", "start", "length"),
    [
        ("name: {long}", "2:11 consumers[0].name: must match ^[A-Za-z0-9][A-Za-z0-9_.:-]{{0,127}}$ (got 'aaa", 100_000),
        (
            'name: "{quoted}"',
            "2:11 consumers[0].name: must match ^[A-Za-z0-9][A-Za-z0-9_.:-]{{0,127}}$ (got \"it's",
            100_005,
        ),
        (
            "name: c\n    slos: [{{name: s, sli: availability, objective: 99, window: {long}}}]",
            "3:64 consumers",
            100_000,
        ),
    ],
)
def test_a_huge_rejected_value_is_shortened_in_its_message(errors: Errors, field: str, start: str, length: int) -> None:
    """A 100,000-character value was echoed whole: one problem line of 100 KB in check's output and the log."""
    found = errors("consumers:\n  - " + field.format(long="a" * 100_000, quoted="it's " + "b" * 100_000) + "\n")
    assert found[0].startswith(start.format()), found[0][:200]
    assert all(len(problem) < 400 for problem in found), [p[:200] for p in found]
    assert f"({length} characters)" in found[0], found[0][:400]


def test_shortening_a_message_full_of_unclosed_quotes_takes_one_pass() -> None:
    """Each start at one of 400,000 quotes scanned to the end of the message: hours. Now one pass, unchanged."""
    hostile = "got '" + "\\'" * 200_000 + '\ngot "' + '\\"' * 200_000
    assert _shorten(hostile) == hostile
    many = " ".join([repr("v" * 300)] * 2_000 + ["'" + "\\'" * 100_000])  # long values, then an unclosed one
    shortened = "'" + "v" * 40 + "…" + "v" * 10 + "' (300 characters)"
    assert _shorten(many) == " ".join([shortened] * 2_000 + ["'" + "\\'" * 100_000])


def test_shortening_cuts_values_and_never_the_text_between_them() -> None:
    long_a, long_b = "a" * 150, "b" * 150
    between = "got 'ab' but " + "x" * 120 + " expected 'cd'"
    assert _shorten(between) == between  # was: `got 'ab' but xxx… expected ' (135 characters)cd'`
    clash = f"'{long_a}' would clash with slowatch's own '{long_b}' label"
    assert _shorten(clash) == (
        f"'{'a' * 40}…{'a' * 10}' (150 characters) would clash with slowatch's own '{'b' * 40}…{'b' * 10}' "
        "(150 characters) label"
    )
    quoted = repr("it's " + long_b)  # "it's bbb…": repr's double quotes, an apostrophe inside
    assert _shorten(f"(got {quoted})") == f'(got "it\'s {"b" * 35}…{"b" * 10}" (155 characters))'


@pytest.mark.parametrize(
    ("value", "start"),
    [
        ("0x" + "f" * 5000, "2:15 endpoints[0].retries: must be at most 10 (got 0xffff"),
        ("1" + "0" * 4000, "2:15 endpoints[0].retries: must be at most 10 (got 1000"),
        ("1" + "0" * 4000 + ".5", "2:15 endpoints[0].retries: must be a finite number, not NaN or infinity (got 1000"),
    ],
)
def test_a_huge_number_as_written_is_shortened_in_its_message(errors: Errors, value: str, start: str) -> None:
    """A number is shown as written, unquoted: a 5,000-digit one was echoed whole (a 5 KB problem line)."""
    found = errors("endpoints:\n  - {retries: " + value + ", name: a, kind: tcp, host: a.example, port: 1}\n")
    assert len(found) == 1 and found[0].startswith(start), found[0][:200]
    assert len(found[0]) < 200 and f"({len(value)} characters))" in found[0], found[0][:300]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("labels: {country: NO}", "5:23 endpoints[0].labels.country: must be a string (got NO, which YAML reads as "
         "false: write it in quotes, 'NO')"),
        ("labels: {version: 1.10}", "5:23 endpoints[0].labels.version: must be a string (got 1.10, which YAML reads "
         "as a number: write it in quotes, '1.10')"),
    ],
)  # fmt: skip
def test_a_string_field_given_what_yaml_reads_as_a_boolean_or_number_says_to_quote_it(
    errors: Errors, line: str, expected: str
) -> None:
    """`must be a string (got NO)` left an SRE wondering: NO *is* text to them (the Norway problem)."""
    assert errors("endpoints:\n  - name: api\n    kind: http\n    url: http://api.example/\n    " + line + "\n") == [
        expected
    ]


def test_a_huge_key_is_shortened_in_the_path_too(errors: Errors) -> None:
    """An explicit key (`? ...`) has no length limit in YAML: a 1 MB unknown key made a 1 MB problem line
    (the message shortened it; the path in front did not)."""
    key = "k" * 1_000_000
    found = errors("endpoints:\n  - name: a\n    kind: http\n    url: http://a.example/\n    ? " + key + "\n    : 5s\n")
    shortened = f"'{'k' * 40}…{'k' * 10}' (1000000 characters)"
    assert found == [f"5:7 endpoints[0][{shortened}]: unknown field {shortened}"]
