"""`${VAR}` interpolation, and secrets never reaching an error message."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from slowatch.config import Config, load_text
from slowatch.config.endpoints import HttpEndpoint
from slowatch.config.interpolate import INVALID, NESTED, interpolate
from slowatch.errors import ConfigError
from slowatch.probes.registry import KINDS
from tests.config.conftest import Errors, Loader

ENDPOINT = """\
endpoints:
  - name: payments-api
    kind: http
    url: {url}
    headers:
      Authorization: {auth}
"""


def _http(config: Config) -> HttpEndpoint:
    endpoint = config.endpoints[0]
    assert isinstance(endpoint, HttpEndpoint)
    return endpoint


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("${HOST}", {"HOST": "a.example"}, "a.example"),
        ("http://${HOST}:${PORT:-8080}/x", {"HOST": "h"}, "http://h:8080/x"),
        ("${PORT:-8080}", {"PORT": ""}, "8080"),  # empty counts as unset, as in POSIX shells
        ("${PORT:-8080}", {"PORT": "9"}, "9"),
        ("${EMPTY}", {"EMPTY": ""}, ""),
        ("${A:-}", {}, ""),
        ("${A:-x:-y}", {}, "x:-y"),
        ("cost: $$5 and $${HOME}", {"HOME": "/root"}, "cost: $5 and ${HOME}"),
        ("^ok$ and $5", {}, "^ok$ and $5"),
        ("no dollars", {}, "no dollars"),
    ],
)
def test_interpolate(text: str, env: dict[str, str], expected: str) -> None:
    result = interpolate(text, env)
    assert (result.value, result.errors) == (expected, [])
    assert result.substituted == ("${" in text.replace("$${", ""))


def test_interpolate_reports_what_came_from_the_environment() -> None:
    result = interpolate("${A}-${B:-dflt}-${C:-dflt}", {"A": "one", "C": "three"})
    assert (result.value, result.secrets) == ("one-dflt-three", ["one", "three"])


@pytest.mark.parametrize("text", ["${1ABC}", "${A B}", "${A:default}", "${}", "${UNCLOSED", "x ${A:-b"])
def test_invalid_expressions(text: str) -> None:
    assert interpolate(text, {"A": "a"}).errors == [INVALID]


@pytest.mark.parametrize("text", ["${A:-${B}}", "Bearer ${TOKEN:-${FALLBACK}}", "${A:-x${B:-y}}"])
def test_a_variable_in_a_default_is_an_error_not_literal_text(text: str) -> None:
    """`${A:-${B}}` read as the default `${B` and a stray `}`: the value became the text `${B}` (a header
    `Bearer ${FALLBACK}` sent as written, no error)."""
    assert interpolate(text, {"B": "b", "FALLBACK": "fb"}).errors == [NESTED]


def test_interpolated_config_loads(load_config: Loader) -> None:
    text = ENDPOINT.format(url="https://${PAY_HOST:-pay.example}/health", auth='"Bearer ${PAY_TOKEN}"')
    text += "    retries: ${RETRIES:-2}\n    labels: {cost: $$5}\n"
    ep = _http(load_config(text, {"PAY_TOKEN": "tok"}))
    assert ep.url == "https://pay.example/health"
    assert ep.headers["Authorization"].get_secret_value() == "Bearer tok"
    assert (ep.retries, ep.labels) == (2, {"cost": "$5"})


def test_env_defaults_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLOWATCH_TEST_HOST", "from-env.example")
    config = load_text(ENDPOINT.format(url="http://${SLOWATCH_TEST_HOST}/", auth="x"))
    assert _http(config).url == "http://from-env.example/"


def test_keys_are_not_interpolated(errors: Errors) -> None:
    assert errors("server:\n  ${KEY}: 1\n", {"KEY": "listen"}) == ["2:3 server['${KEY}']: unknown field '${KEY}'"]


def test_unset_variables_are_located_errors(errors: Errors) -> None:
    text = ENDPOINT.format(url="http://${HOST}/", auth='"Bearer ${PAYMENTS_TOKEN}"')
    assert errors(text) == [
        "4:10 endpoints[0].url: environment variable HOST is not set",
        "6:22 endpoints[0].headers.Authorization: environment variable PAYMENTS_TOKEN is not set",
    ]


def test_invalid_expression_is_a_located_error(errors: Errors) -> None:
    assert errors("server:\n  listen: ${LISTEN\n") == [f"2:11 server.listen: {INVALID}"]


def test_unset_variable_in_an_anchor_is_reported_once(errors: Errors) -> None:
    text = "x-token: &tok ${TOKEN}\n" + ENDPOINT.format(url="http://a/", auth="*tok")
    assert errors(text) == [
        "1:1 x-token: unknown field 'x-token'",
        "1:10 x-token: environment variable TOKEN is not set",
    ]


SECRET = "hunter2-Sup3r-s3cret"


def test_secrets_never_appear_in_problems() -> None:
    text = f"""\
server:
  listen: ${{LISTEN}}
defaults:
  interval: ${{INTERVAL}}
endpoints:
  - name: a
    kind: http
    url: ${{URL}}
    method: ${{TOKEN}}
    retries: ${{RETRIES}}
    headers:
      Authorization: "Bearer ${{TOKEN}}"
      X-Api-Key: {SECRET}
      X-Number: 12345678
      X-List: [{SECRET}]
  - name: b
    kind: ${{TOKEN}}
  - name: a
    kind: http
    url: http://b.example/
    headers: {{X-Api-Key: {SECRET}}}
consumers:
  - name: c
    endpoints: ["${{TOKEN}}"]
"""
    env = {"TOKEN": SECRET, "LISTEN": f"{SECRET}:x", "INTERVAL": "0s", "URL": f"ftp://{SECRET}/", "RETRIES": "99"}
    with pytest.raises(ConfigError) as info:
        load_text(text, "secrets.yaml", env=env)
    rendered = [str(p) for p in info.value.problems]
    assert rendered == [
        "secrets.yaml:2:11 server.listen: must be HOST:PORT or [IPV6]:PORT (got <hidden>)",
        "secrets.yaml:4:13 defaults.interval: must be at least 1s (got <hidden>)",
        "secrets.yaml:8:10 endpoints[0].url: must be an http:// or https:// URL",
        "secrets.yaml:9:13 endpoints[0].method: not an HTTP method: <hidden>",
        "secrets.yaml:10:14 endpoints[0].retries: must be at most 10",
        "secrets.yaml:14:17 endpoints[0].headers.X-Number: must be a string",
        "secrets.yaml:15:7 endpoints[0].headers.X-List: must be a string (got a list)",
        f"secrets.yaml:17:11 endpoints[1].kind: unknown kind (expected one of: {', '.join(KINDS)})",
    ]
    for problem in [*rendered, str(info.value)]:
        assert SECRET not in problem and "12345678" not in problem and "99" not in problem


def test_secrets_are_hidden_in_semantic_check_messages() -> None:
    text = ENDPOINT.format(url="http://a.example/", auth="x") + "consumers:\n  - {name: c, endpoints: ['${EP}']}\n"
    with pytest.raises(ConfigError) as info:
        load_text(text, "c.yaml", env={"EP": "private-endpoint-name"})
    assert [str(p) for p in info.value.problems] == ["c.yaml:8:27 consumers[0].endpoints[0]: unknown endpoint <hidden>"]


@pytest.mark.parametrize("value", ["line1-Zq9x\nline2", "tab\there-Zq9x", "back\\slash-Zq9x", "it's-Zq9x\n"])
def test_a_secret_that_a_message_quotes_inside_a_longer_string_is_hidden(value: str) -> None:
    """repr() of `checkout/<secret>` escapes a newline, tab or backslash: the secret as written in the
    message was not the secret itself, so neither the quoted nor the bare form matched and it was shown."""
    text = ENDPOINT.format(url="http://a.example/", auth="x") + (
        "consumers:\n  - name: checkout\n    endpoints: [payments-api]\n    slos:\n"
        "      - {name: a, sli: availability, objective: 99}\n"
        "      - {name: j, objective: 99, composite: {method: serial, members: [{slo: '${REF}'}]}}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_text(text, "c.yaml", env={"REF": value})
    rendered = str(info.value)
    assert "Zq9x" not in rendered and "line2" not in rendered, rendered
    assert rendered.startswith("c.yaml:12:78 consumers[0].slos[1].composite.members[0].slo: unknown SLO ")
    assert "checkout/<hidden>" in rendered


def test_secret_values_stay_secret_types(load_config: Loader) -> None:
    config = load_config(ENDPOINT.format(url="http://a.example/", auth=SECRET))
    header = _http(config).headers["Authorization"]
    assert isinstance(header, SecretStr) and SECRET not in repr(config)


def test_short_values_are_hidden_where_they_fail_without_garbling_other_messages() -> None:
    text = ENDPOINT.format(url="http://a.example/", auth="json") + "  - {name: '${EP}', kind: http, url: 'http://b/'}\n"
    text += "server: {log_format: yaml}\n"
    with pytest.raises(ConfigError) as info:
        load_text(text, "c.yaml", env={"EP": "payments-api"})
    assert [str(p) for p in info.value.problems] == [
        "c.yaml:8:22 server.log_format: must be 'text' or 'json' (got 'yaml')"
    ]
    with pytest.raises(ConfigError) as info:
        load_text(text.replace("yaml}", "json}"), "c.yaml", env={"EP": "payments-api"})
    assert [str(p) for p in info.value.problems] == [
        "c.yaml:7:12 endpoints[1].name: duplicate endpoint name <hidden> (first defined at endpoints[0])"
    ]


def test_a_variable_that_is_not_utf8_is_a_located_error(errors: Errors) -> None:
    """os.environ holds bytes that are not UTF-8 as lone surrogates (`\\udce9` for a latin-1 é): loading
    raised UnicodeEncodeError (a traceback, no file or line) while building the concealment of the value."""
    text = ENDPOINT.format(url="'http://api.example/x?k=${TOKEN}'", auth="x")
    assert errors(text, {"TOKEN": "caf\udce9"}) == [
        "4:10 endpoints[0].url: environment variable TOKEN is not UTF-8 text"
    ]
