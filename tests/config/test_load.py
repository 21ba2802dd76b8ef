"""A valid config loads into the typed, frozen tree."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from slowatch.config import Config, load, load_text
from slowatch.config.endpoints import DnsEndpoint, HttpEndpoint, TcpEndpoint, TlsEndpoint
from slowatch.errors import ConfigError
from tests.config.conftest import Loader

FULL = """\
# every section, as an SRE would write it
server:
  listen: 0.0.0.0:9464
  database: /var/lib/slowatch/slowatch.db
  retention: {raw: 2d, rollups: 400d}
  max_concurrency: 64
  log_format: json

defaults: &timing
  interval: 30s
  timeout: 5s

endpoints:
  - name: payments-api
    kind: http
    url: https://${PAY_HOST:-payments.example}/healthz
    interval: 15s
    retries: 1
    labels: {tier: critical, team: payments}
    headers:
      Authorization: "Bearer ${PAYMENTS_TOKEN}"
    expect:
      status: [200, 2xx]
  - name: postgres
    kind: tcp
    host: db.internal
    port: 5432
  - name: payments-cert
    kind: tls
    host: payments.example
    <<: *timing
    interval: 1h
  - name: resolver
    kind: dns
    query: payments.example
    record_type: AAAA

consumers:
  - name: checkout
    description: Checkout web and mobile apps
    endpoints: [payments-api, {labels: {tier: critical}}]
    slos:
      - name: availability
        sli: availability
        objective: 99.9
        window: 30d
"""


def test_full_example_loads_with_the_right_types(load_config: Loader) -> None:
    config = load_config(FULL, {"PAYMENTS_TOKEN": "t0ken"})
    assert isinstance(config, Config)
    assert (config.server.host, config.server.port, config.server.log_format) == ("0.0.0.0", 9464, "json")
    assert config.server.retention.raw == 2 * 86400.0
    http, tcp, tls, dns = config.endpoints
    assert isinstance(http, HttpEndpoint) and isinstance(tcp, TcpEndpoint)
    assert isinstance(tls, TlsEndpoint) and isinstance(dns, DnsEndpoint)
    assert http.url == "https://payments.example/healthz"
    assert (http.interval, http.timeout, http.retries) == (15.0, 5.0, 1)
    assert http.expect.status == [200, "2xx"]
    token = http.headers["Authorization"]
    assert isinstance(token, SecretStr) and token.get_secret_value() == "Bearer t0ken"
    assert (tcp.interval, tcp.timeout, tcp.port) == (30.0, 5.0, 5432)  # from defaults
    assert (tls.interval, tls.timeout) == (3600.0, 5.0)
    assert dns.record_type == "AAAA"
    checkout = config.consumers[0]
    assert checkout.endpoints[0] == "payments-api" and checkout.slos[0].objective == 99.9
    assert config.endpoint("postgres") is tcp


def test_config_is_frozen(load_config: Loader) -> None:
    config = load_config(FULL, {"PAYMENTS_TOKEN": "t"})
    with pytest.raises(ValidationError):
        config.endpoints[0].interval = 1.0  # type: ignore[misc]


def test_load_text_and_a_minimal_config() -> None:
    config = load_text("endpoints: []\n")
    assert config.endpoints == [] and config.defaults.interval == 30.0
    with pytest.raises(ConfigError) as info:
        load_text("server: 1\n")
    assert [str(p) for p in info.value.problems] == ["<string>:1:9 server: must be a mapping (got 1)"]


def test_load_accepts_str_and_path(config_path: Path) -> None:
    config_path.write_text("endpoints: []\n", encoding="utf-8")
    assert load(str(config_path), env={}) == load(config_path, env={})


def test_utf8_bom_is_accepted(config_path: Path) -> None:
    config_path.write_bytes("\ufeffserver: {listen: '127.0.0.1:1'}\n".encode())
    assert load(config_path, env={}).server.port == 1


def test_shipped_example_config_loads() -> None:
    example = Path(__file__).resolve().parents[2] / "config" / "slowatch.yaml"
    config = load(example, env={})
    assert config.endpoints and all(ep.interval >= 1.0 for ep in config.endpoints)


def test_one_expected_status_needs_no_list() -> None:
    """`expect: {status: 204}`, as one writes a single code, was refused (`must be a list (got 204)`)."""
    config = load_text(
        "endpoints:\n"
        "  - {name: a, kind: http, url: 'http://x/', expect: {status: 204}}\n"
        "  - {name: b, kind: http, url: 'http://x/', expect: {status: 2xx}}\n"
        "  - {name: c, kind: transaction, steps: [{name: s, url: 'http://x/', expect: {status: 200-299}}]}\n"
    )
    a, b, c = config.endpoints
    assert isinstance(a, HttpEndpoint) and isinstance(b, HttpEndpoint)
    assert a.expect.status == [204] and b.expect.status == ["2xx"]
    assert c.steps[0].expect.status == ["200-299"]  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match=r"status: must be a list \(got true\)|status"):
        load_text("endpoints:\n  - {name: a, kind: http, url: 'http://x/', expect: {status: true}}\n")
