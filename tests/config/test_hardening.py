"""Issue #10: NaN, infinity and absurd values, control characters in protocol fields, "did you mean"."""

from __future__ import annotations

from pathlib import Path

import pytest

from slowatch.cli import main
from tests.config.conftest import Errors, Loader

HTTP = "  - name: {name}\n    kind: http\n    url: http://{name}.example/\n"
ONE = "endpoints:\n" + HTTP.format(name="api")
SLO = (
    ONE
    + "consumers:\n  - name: shop\n    endpoints: [api]\n    slos:\n      - {{name: up, sli: availability, {field}}}\n"
)
FINITE = "must be a finite number, not NaN or infinity"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (ONE + "    interval: .nan\n", "5:15 endpoints[0].interval: must be a finite duration"),
        (ONE + "    timeout: .inf\n", "5:14 endpoints[0].timeout: must be a finite duration"),
        (ONE + "    retry_delay: -.inf\n", "5:18 endpoints[0].retry_delay: must be a finite duration"),
        (ONE + "    timeout: 1.0e+400\n", "5:14 endpoints[0].timeout: must be a finite duration"),
        ("defaults:\n  interval: .NaN\n" + ONE, "2:13 defaults.interval: must be a finite duration"),
        (ONE + "    retries: .nan\n", f"5:14 endpoints[0].retries: {FINITE} (got .nan)"),
        (
            ONE + "    alerts: {failure_threshold: .inf}\n",
            f"5:33 endpoints[0].alerts.failure_threshold: {FINITE} (got .inf)",
        ),
        (SLO.format(field="objective: .nan"), f"9:50 consumers[0].slos[0].objective: {FINITE} (got .nan)"),
        ("server: {jitter: .nan}\n", f"1:18 server.jitter: {FINITE} (got .nan)"),
        (
            "server: {metrics: {duration_buckets: [1, .inf]}}\n",
            f"1:42 server.metrics.duration_buckets[1]: {FINITE} (got .inf)",
        ),
        ("alerting: {exhausted_threshold: .nan}\n", f"1:33 alerting.exhausted_threshold: {FINITE} (got .nan)"),
        (
            "alerting: {burn_tiers: [{severity: page, long: 1h, short: 5m, factor: .inf}]}\n",
            f"1:71 alerting.burn_tiers[0].factor: {FINITE} (got .inf)",
        ),
        (
            "alerting: {burn_tiers: [{severity: page, long: 1h, short: 5m, budget_percent: .nan}]}\n",
            f"1:79 alerting.burn_tiers[0].budget_percent: {FINITE} (got .nan)",
        ),
        (
            ONE + "    json: {a: [1, .nan]}\n",
            "5:5 endpoints[0].json: must not contain NaN or infinity (JSON has no such numbers)",
        ),
    ],
)
def test_nan_and_infinity_are_located_errors(errors: Errors, text: str, expected: str) -> None:
    assert errors(text) == [
        expected + ("" if "(got" in expected or "JSON" in expected else " (use e.g. 500ms, 15s, 5m, 1h, 30d)")
    ]


def test_timeslice_good_when_rejects_nan(errors: Errors) -> None:
    text = SLO.format(field="objective: 99, budgeting: timeslices, timeslice: {good_when: .nan}")
    assert errors(text) == [f"9:100 consumers[0].slos[0].timeslice.good_when: {FINITE} (got .nan)"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            ONE + "    interval: 99999999999999999999999d\n",
            "5:15 endpoints[0].interval: must be at most 1d (got '99999999999999999999999d')",
        ),
        (ONE + "    interval: 2d\n", "5:15 endpoints[0].interval: must be at most 1d (got '2d')"),
        (ONE + "    timeout: 6m\n    interval: 1h\n", "5:14 endpoints[0].timeout: must be at most 5m (got '6m')"),
        (ONE + "    retry_delay: 2h\n", "5:18 endpoints[0].retry_delay: must be at most 1h (got '2h')"),
        (ONE + "    retry_delay: -1\n", "5:18 endpoints[0].retry_delay: must be at least 0s (got -1)"),
        (
            ONE + "    alerts: {reminder_interval: 31d}\n",
            "5:33 endpoints[0].alerts.reminder_interval: must be at most 30d (got '31d')",
        ),
        (
            "endpoints:\n  - {name: t, kind: tls, host: a.example, expiry_threshold: 500d}\n",
            "2:61 endpoints[0].expiry_threshold: must be at most 400d (got '500d')",
        ),
        (
            SLO.format(field="objective: 99, window: 401d"),
            "9:62 consumers[0].slos[0].window: must be at most 400d or a mapping with calendar (week, month or quarter)"
            " and optionally timezone (got '401d')",
        ),
        (
            SLO.replace("availability", "latency").format(field="objective: 99, threshold: 1h"),
            "9:60 consumers[0].slos[0].threshold: must be at most 5m (got '1h')",
        ),
        ("server: {shutdown_grace: 1h}\n", "1:26 server.shutdown_grace: must be at most 10m (got '1h')"),
        ("server: {retention: {raw: 4000d}}\n", "1:27 server.retention.raw: must be at most 3660d (got '4000d')"),
        (
            "server: {metrics: {duration_buckets: [1, 7200]}}\n",
            "1:20 server.metrics.duration_buckets: must be at most 100 bucket bounds, none above 3600 (seconds)",
        ),
        ("alerting: {evaluate_interval: 2h}\n", "1:31 alerting.evaluate_interval: must be at most 1h (got '2h')"),
        ("alerting: {no_data_after: 500d}\n", "1:27 alerting.no_data_after: must be at most 400d (got '500d')"),
        (
            "alerting: {storm: {threshold: 1000000}}\n",
            "1:31 alerting.storm.threshold: must be at most 100000 (got 1000000)",
        ),
        ("alerting: {exhausted_threshold: 2}\n", "1:33 alerting.exhausted_threshold: must be at most 1.0 (got 2)"),
        (
            "sinks: {s: {kind: webhook, url: 'https://h.example/', give_up_after: 60d}}\nroutes: [{sinks: [s]}]\n",
            "1:70 sinks.s.give_up_after: must be at most 30d (got '60d')",
        ),
        (
            "maintenance: [{name: m, endpoints: [api], recurring: {start: '01:00', duration: 8d}}]\n" + ONE,
            "1:81 maintenance[0].recurring.duration: must be at most 7d (got '8d')",
        ),
    ],
)
def test_absurd_values_are_out_of_bounds(errors: Errors, text: str, expected: str) -> None:
    assert expected in errors(text)


def test_the_bounds_themselves_are_accepted(load_config: Loader) -> None:
    config = load_config(
        ONE + "    interval: 1d\n    timeout: 5m\n    retry_delay: 1h\n    retries: 10\n"
        "consumers:\n  - {name: c, endpoints: [api],\n"
        "     slos: [{name: s, sli: availability, objective: 99, window: 400d}]}\n"
    )
    ep = config.endpoints[0]
    assert (ep.interval, ep.timeout, ep.retry_delay) == (86400.0, 300.0, 3600.0)
    assert config.consumers[0].slos[0].window == 400 * 86400.0


def test_a_duration_too_long_for_a_float_is_an_error(errors: Errors) -> None:
    assert errors(ONE + f"    interval: {'9' * 400}s\n") == [
        f"5:15 endpoints[0].interval: not a finite duration: '{'9' * 40}…{'9' * 9}s' (401 characters)"
    ]


SECRET = "tok-secret-8842"


@pytest.mark.parametrize("value", [f"{SECRET}\r\nX-Injected: 1", f"{SECRET}\n", f"\r{SECRET}", f"{SECRET}\x00"])
def test_header_values_with_line_breaks_from_the_environment(errors: Errors, value: str) -> None:
    text = ONE + '    headers: {Authorization: "Bearer ${TOKEN}"}\n'
    found = errors(text, {"TOKEN": value})
    assert len(found) == 1 and found[0].startswith(
        "5:30 endpoints[0].headers.Authorization: an HTTP header value cannot contain "
    )
    assert SECRET not in found[0] and "Injected" not in found[0]


def test_header_names_and_sink_headers_are_checked(errors: Errors) -> None:
    text = (
        ONE + '    headers: {"X-A\\r\\nB": v, "X B": v}\n    expect: {headers: {"X\\nC": ""}}\n'
        "sinks:\n  am: {kind: alertmanager, url: 'https://am.example/', headers: {X-Key: \"${KEY}\"}}\n"
        "  wh: {kind: webhook, url: 'https://wh.example/', headers: {\"Bad:Name\": v}}\nroutes: [{sinks: [am, wh]}]\n"
    )
    found = errors(text, {"KEY": f"{SECRET}\r\n"})
    name = "not an HTTP header name: {} (letters, digits and !#$%&'*+-.^_`|~ only)"
    assert found == [
        "5:27 endpoints[0].headers['X-A\\r\\nB']: " + name.format("'X-A\\r\\nB'"),
        "5:37 endpoints[0].headers['X B']: " + name.format("'X B'"),
        "6:32 endpoints[0].expect.headers['X\\nC']: " + name.format("'X\\nC'"),
        "8:73 sinks.am.headers.X-Key: an HTTP header value cannot contain a carriage return (CR) "
        "(check the variable it comes from)",
        "9:73 sinks.wh.headers['Bad:Name']: " + name.format("'Bad:Name'"),
    ]


def test_urls_and_server_names_with_control_characters(errors: Errors) -> None:
    text = (
        'endpoints:\n  - {name: a, kind: http, url: "http://a.example/x\\r\\ny"}\n'
        '  - {name: b, kind: tls, host: b.example, server_name: "b.example\\n"}\n'
        'sinks: {s: {kind: slack, webhook_url: "https://hooks.example/${HOOK}"}}\nroutes: [{sinks: [s]}]\n'
    )
    found = errors(text, {"HOOK": f"{SECRET}\n"})
    assert found[0] == "2:32 endpoints[0].url: a URL cannot contain a carriage return (CR)"
    assert found[1].startswith("3:56 endpoints[1].server_name: must match")
    assert found[2] == "4:39 sinks.s.webhook_url: a URL cannot contain a line break (LF)"
    assert len(found) == 3 and not any(SECRET in f for f in found)


def test_a_tab_in_a_header_value_is_fine(load_config: Loader) -> None:
    config = load_config(ONE + '    headers: {X-A: "a\\tb"}\n')
    assert config.endpoints[0].headers["X-A"].get_secret_value() == "a\tb"  # type: ignore[union-attr]


def test_every_reference_by_name_suggests_a_close_name(errors: Errors) -> None:
    text = """\
endpoints:
  - {name: payments-api, kind: http, url: "http://p.example/"}
consumers:
  - name: checkout
    endpoints: [paymnts-api, payments-api]
    slos:
      - {name: availability, sli: availability, objective: 99, endpoints: [payments-apii]}
maintenance:
  - {name: m, consumers: [checkuot], endpoints: [payment-api], start: 2026-01-01T00:00:00Z, end: 2026-01-02T00:00:00Z}
sinks:
  slack-oncall: {kind: slack, webhook_url: "https://hooks.example/x"}
routes:
  - {match: {consumer: checkot, endpoint: paymentsapi}, sinks: [slack-oncal]}
  - {match: {consumer: checkout, slo: availabilty}, sinks: [slack-oncall]}
  - {match: {slo: avalability}, sinks: [slack-oncall]}
alerting:
  slos:
    - {consumer: chekout, slo: availability}
    - {consumer: checkout, slo: availabiliti}
silences:
  - {consumer: checkou, until: "2026-12-01T10:00:00Z"}
  - {endpoint: paymens-api, until: "2026-12-01T10:00:00Z"}
"""
    assert errors(text) == [
        "5:17 consumers[0].endpoints[0]: unknown endpoint 'paymnts-api' (did you mean 'payments-api'?)",
        "7:76 consumers[0].slos[0].endpoints[0]: unknown endpoint 'payments-apii' (did you mean 'payments-api'?)",
        "9:27 maintenance[0].consumers[0]: unknown consumer 'checkuot' (did you mean 'checkout'?)",
        "9:50 maintenance[0].endpoints[0]: unknown endpoint 'payment-api' (did you mean 'payments-api'?)",
        "13:24 routes[0].match.consumer: unknown consumer 'checkot' (did you mean 'checkout'?)",
        "13:43 routes[0].match.endpoint: unknown endpoint 'paymentsapi' (did you mean 'payments-api'?)",
        "13:65 routes[0].sinks[0]: unknown sink 'slack-oncal' (did you mean 'slack-oncall'?)",
        "14:39 routes[1].match.slo: consumer 'checkout' has no SLO 'availabilty' (did you mean 'availability'?)",
        "15:19 routes[2].match.slo: no consumer has an SLO named 'avalability' (did you mean 'availability'?)",
        "18:18 alerting.slos[0].consumer: unknown consumer 'chekout' (did you mean 'checkout'?)",
        "19:33 alerting.slos[1].slo: consumer 'checkout' has no SLO 'availabiliti' (did you mean 'availability'?)",
        "21:16 silences[0].consumer: unknown consumer 'checkou' (did you mean 'checkout'?)",
        "22:16 silences[1].endpoint: unknown endpoint 'paymens-api' (did you mean 'payments-api'?)",
    ]


def test_a_name_nothing_resembles_gets_no_suggestion_and_sinks_list_the_known(errors: Errors) -> None:
    text = (
        ONE + "consumers: [{name: c, endpoints: [zzz]}]\nsinks: {s: {kind: slack, webhook_url: 'https://h.example/'}}\n"
    )
    text += "routes: [{sinks: [qqqq]}]\n"
    assert errors(text) == [
        "5:35 consumers[0].endpoints[0]: unknown endpoint 'zzz'",
        "7:19 routes[0].sinks[0]: unknown sink 'qqqq' (known: s)",
    ]


def test_suggestions_stop_after_a_budget() -> None:
    from slowatch.config.messages import Suggester

    suggest = Suggester(["payments-api", "orders-api"], limit=2)
    assert suggest("paymnts-api") == " (did you mean 'payments-api'?)"
    assert suggest("order-api") == " (did you mean 'orders-api'?)"
    assert suggest("paymnts-api") == " (did you mean 'payments-api'?)"  # remembered
    assert suggest("orders-apii") == ""  # over the budget: no more searching


def test_check_reports_nan_without_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nan.yaml"
    path.write_text(ONE + "    interval: .nan\n    timeout: .inf\n")
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.splitlines() == [
        f"{path}:5:15 endpoints[0].interval: must be a finite duration (use e.g. 500ms, 15s, 5m, 1h, 30d)",
        f"{path}:6:14 endpoints[0].timeout: must be a finite duration (use e.g. 500ms, 15s, 5m, 1h, 30d)",
        f"{path}: 2 error(s)",
    ]


def test_fewer_suggestions_when_there_are_very_many_names() -> None:
    from slowatch.config.messages import Suggester

    suggest = Suggester([f"ep-{i:06d}" for i in range(100_000)])
    assert suggest.limit == 5
    assert suggest("ep-00001x") != ""


def test_on_off_yes_no_in_a_number_field_is_an_error_not_a_one_or_zero(errors: Errors, load_config: Loader) -> None:
    """YAML 1.1 reads `on` as true and pydantic took true for 1: `max_concurrency: on` ran one probe at a time,
    `probe_workers: off` meant none, silently. Through a merge key too; a boolean field still takes them."""
    said = "must be a number, not true or false (got {}: YAML reads on, off, yes and no as such)"
    text = (
        "server: {max_concurrency: on, probe_workers: off}\n"
        "alerting: {storm: {threshold: ON}}\n"
        + ONE
        + "    retries: yes\n    alerts: &a {failure_threshold: true}\n"
        + HTTP.format(name="web")
        + "    alerts: {<<: *a}\n"
    )
    assert errors(text) == [
        "1:27 server.max_concurrency: " + said.format("on"),
        "1:46 server.probe_workers: " + said.format("off"),
        "2:31 alerting.storm.threshold: " + said.format("ON"),
        "7:14 endpoints[0].retries: " + said.format("yes"),
        "8:36 endpoints[0].alerts.failure_threshold: " + said.format("true"),
        "8:36 endpoints[1].alerts.failure_threshold: " + said.format("true"),
    ]
    config = load_config(ONE + "    follow_redirects: no\n")
    assert config.endpoints[0].follow_redirects is False  # type: ignore[union-attr]


def test_header_names_that_differ_only_in_case_are_one_header_twice(errors: Errors) -> None:
    """HTTP header names ignore case: `Authorization` and `authorization` pasted together were both sent."""
    said = "'{}' and '{}' are the same header (header names ignore case): keep one"
    text = (
        ONE
        + "    headers: {Authorization: 'Bearer a', X-Team: t, authorization: 'Bearer b'}\n"
        + "    expect: {headers: {Content-Type: a, content-type: b}}\n"
        + "sinks: {s: {kind: webhook, url: 'https://h.example/', headers: {X-A: a, x-a: b}}}\n"
        + "routes: [{sinks: [s]}]\n"
    )
    assert errors(text) == [
        "5:5 endpoints[0].headers: " + said.format("Authorization", "authorization"),
        "6:14 endpoints[0].expect.headers: " + said.format("Content-Type", "content-type"),
        "7:55 sinks.s.headers: " + said.format("X-A", "x-a"),
    ]


def test_a_duration_that_yaml_read_as_a_boolean_says_so(errors: Errors) -> None:
    assert errors(ONE + "    interval: on\n") == [
        "5:15 endpoints[0].interval: not a duration but true or false (YAML reads on, off, yes and no as such; "
        "use e.g. 500ms, 15s, 5m, 1h, 30d)"
    ]
