"""The alerting config: every option parses, and mistakes are located errors that never echo secrets."""

from __future__ import annotations

import textwrap

import pytest

from slowatch.config.loader import load_text
from slowatch.config.schema import Config
from slowatch.errors import ConfigError

BASE = """
endpoints:
  - {name: api, kind: http, url: "http://127.0.0.1:1/health"}
  - {name: db, kind: tcp, host: 127.0.0.1, port: 5432, alerts: {failure_threshold: 5, reminder_interval: 30m}}
consumers:
  - name: checkout
    endpoints: [api, db]
    slos:
      - {name: availability, sli: availability, objective: 99.9}
      - {name: weekly, sli: availability, objective: 99, window: 7d}
"""

FULL = (
    BASE
    + """
defaults:
  alerts: {failure_threshold: 2, success_threshold: 3, send_resolved: false}
sinks:
  checkout-oncall: {kind: slack, webhook_url: "${CHECKOUT_SLACK_WEBHOOK}", timeout: 5s}
  pager:
    kind: webhook
    url: https://events.example/hook
    headers: {Authorization: "Bearer ${PAGER_TOKEN}"}
    retry_initial: 2s
    retry_max: 10m
    give_up_after: 12h
  am: {kind: alertmanager, url: "http://127.0.0.1:9093", resend_interval: 2m}
routes:
  - match: {consumer: checkout, severity: page}
    sinks: [checkout-oncall, pager]
    continue: true
  - match: {kind: endpoint_down, endpoint: db}
    sinks: [pager]
  - match: {}
    sinks: [am]
alerting:
  resolve_after: 10m
  exhausted_threshold: 0.05
  exhausted_severity: page
  no_data_after: 15m
  evaluate_interval: 10s
  storm: {threshold: 20, window: 2m, group_wait: 2s, group_interval: 1m}
  burn_tiers:
    - {severity: page, long: 1h, short: 5m, budget_percent: 2}
    - {severity: ticket, long: 1d, short: 2h, factor: 3}
  slos:
    - consumer: checkout
      slo: weekly
      burn_tiers: [{severity: page, long: 6h, short: 30m, factor: 10}]
      no_data_after: 1h
silences:
  - {consumer: checkout, until: "2026-12-01T10:00:00Z", reason: migration}
  - {endpoint: db, until: "2026-12-01T10:00:00+01:00"}
"""
)

ENV = {
    "CHECKOUT_SLACK_WEBHOOK": "https://hooks.slack.com/services/T1/B2/sekrit-slack-token",
    "PAGER_TOKEN": "sekrit-pager-token",
}


def errors(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_text(textwrap.dedent(text), "slowatch.yaml", env=env or ENV)
    return [str(p) for p in info.value.problems]


def test_every_option_parses() -> None:
    config = load_text(FULL, "slowatch.yaml", env=ENV)
    api, db = config.endpoints
    assert (api.alerts.failure_threshold, api.alerts.success_threshold, api.alerts.send_resolved) == (2, 3, False)
    assert (db.alerts.failure_threshold, db.alerts.success_threshold, db.alerts.reminder_interval) == (5, 3, 1800.0)
    assert config.sinks["checkout-oncall"].kind == "slack"
    pager = config.sinks["pager"]
    assert pager.kind == "webhook" and pager.headers["Authorization"].get_secret_value() == "Bearer sekrit-pager-token"
    assert (pager.retry_initial, pager.retry_max, pager.give_up_after) == (2.0, 600.0, 43200.0)
    assert config.routes[0].continue_ and not config.routes[1].continue_
    assert config.alerting.slos[0].burn_tiers is not None and config.alerting.slos[0].burn_tiers[0].factor == 10
    assert config.silences[1].until.utcoffset() is not None
    assert "sekrit" not in repr(config) and "sekrit" not in str(config.model_dump())


def test_defaults_without_alerting_config() -> None:
    config = Config.model_validate({"endpoints": [{"name": "a", "kind": "http", "url": "http://x/"}]})
    a = config.endpoints[0].alerts
    assert (a.failure_threshold, a.success_threshold, a.reminder_interval, a.send_resolved) == (3, 2, None, True)
    assert config.alerting.storm.threshold == 10 and config.alerting.storm.window == 60.0
    assert config.alerting.burn_tiers is None and config.alerting.exhausted_threshold == 0.0


def test_mistakes_are_located() -> None:
    found = errors(
        BASE
        + """
sinks:
  s: {kind: slack, webhook_url: "https://hooks.slack.com/x"}
  bad: {kind: smtp, host: mail}
routes:
  - {match: {consumer: nobody}, sinks: [s, missing]}
alerting:
  burn_tiers: [{severity: page, long: 4h, short: 5m, factor: 2}]
  slos: [{consumer: checkout, slo: nope}]
silences:
  - {consumer: checkout, until: "2026-12-01T10:00:00"}
"""
    )
    text = "\n".join(found)
    assert "sinks.bad" in text and "slack" in text  # the discriminator names the known kinds
    assert "slowatch.yaml:" in text
    assert "silences[0].until" in text and "offset" in text


def test_semantic_mistakes_are_located() -> None:
    found = errors(
        BASE
        + """
sinks:
  s: {kind: slack, webhook_url: "https://hooks.slack.com/x"}
routes:
  - {match: {consumer: nobody, endpoint: ghost}, sinks: [s, missing]}
alerting:
  burn_tiers: [{severity: page, long: 4h, short: 5m, factor: 2}]
  slos: [{consumer: checkout, slo: nope}]
silences:
  - {endpoint: ghost, until: "2026-12-01T10:00:00Z"}
"""
    )
    text = "\n".join(found)
    for expected in (
        "routes[0].sinks[1]: unknown sink 'missing'",
        "routes[0].match.consumer: unknown consumer",
        "routes[0].match.endpoint: unknown endpoint",
        "alerting.burn_tiers[0].long: the SLO engine",
        "alerting.slos[0].slo: consumer 'checkout' has no SLO 'nope'",
        "silences[0].endpoint: unknown endpoint 'ghost'",
    ):
        assert expected in text, text
    assert all(line.startswith("slowatch.yaml:") for line in found)


def test_field_rules() -> None:
    text = "\n".join(
        errors(
            BASE
            + """
sinks:
  s: {kind: slack, webhook_url: "ftp://sekrit-in-a-bad-url"}
  t: {kind: webhook, url: "https://x/", timeout: 0s}
routes: [{match: {}, sinks: [s]}]
alerting:
  burn_tiers: [{severity: page, long: 1h, short: 5m}, {severity: page, long: 5m, short: 1h, factor: 1}]
silences: [{consumer: checkout, endpoint: api, until: "2026-12-01T10:00:00Z"}]
defaults:
  alerts: {reminder_interval: 1m, failure_threshold: 0}
"""
        )
    )
    assert "must be an http:// or https:// URL" in text
    assert "sekrit" not in text  # a secret field's value is never echoed
    assert "set exactly one of budget_percent, factor" in text
    assert "`short` must be shorter than `long`" in text
    assert "set exactly one of consumer, endpoint" in text
    assert "reminder_interval: must be at least 5m (got '1m')" in text
    assert "sinks.t.timeout" in text


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:99999/sekrit",  # port out of range
        "http://[::1/sekrit",  # broken IPv6 literal
        "http:///sekrit",  # no host
        "https://" + "a" * 70 + ".example/sekrit",  # a DNS label longer than 63: cannot be encoded
        "http://hooks.example:notaport/sekrit",
    ],
)
def test_a_sink_url_no_request_could_use_is_a_config_error_not_a_day_of_retries(url: str) -> None:
    """These passed `check` and then failed every delivery ("network error: InvalidUrlClientError",
    or the sink raising) until give_up_after: a broken sink was found only when an alert needed it."""
    found = errors(BASE + f'sinks:\n  s: {{kind: webhook, url: "{url}"}}\nroutes: [{{match: {{}}, sinks: [s]}}]\n')
    assert any("sinks.s.url: not a usable http:// or https:// URL" in f for f in found), found
    assert not any("sekrit" in f for f in found)


def test_sinks_without_routes_is_an_error() -> None:
    found = errors(BASE + 'sinks:\n  s: {kind: slack, webhook_url: "https://hooks.slack.com/x"}\n')
    assert any("no route sends anything" in f for f in found)


def test_routes_first_match_wins_unless_continue() -> None:
    from slowatch.alerting.book import Router
    from slowatch.alerting.events import AlertEvent

    config = load_text(FULL, "slowatch.yaml", env=ENV)
    router = Router(config.routes)

    def event(kind: str, severity: str, consumers: tuple[str, ...], endpoint: str = "") -> AlertEvent:
        return AlertEvent(f"k:{endpoint}", kind, "firing", severity, 0.0, 0.0, "t", "s", consumers, "", endpoint)

    # checkout pages go to slack + pager and, with continue, on to the next matching route
    assert router.sinks_for(event("burn_rate", "page", ("checkout",))) == ("checkout-oncall", "pager", "am")
    # an endpoint alert carries its consumers, so consumer routes apply to it too
    assert router.sinks_for(event("endpoint_down", "page", ("checkout",), "db")) == ("checkout-oncall", "pager")
    assert router.sinks_for(event("endpoint_down", "ticket", (), "db")) == ("pager",)  # first match stops
    assert router.sinks_for(event("no_data", "ticket", ("checkout",))) == ("am",)
    assert Router([]).sinks_for(event("no_data", "ticket", ())) == ()
