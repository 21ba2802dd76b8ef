"""`slowatch check` reports config that would make the generated Prometheus rules (or series) invalid."""

from __future__ import annotations

from tests.config.conftest import Errors, Loader


def test_endpoint_labels_that_cannot_be_prometheus_labels_are_located(errors: Errors) -> None:
    text = 'server:\n  metrics:\n    endpoint_labels: [team, "équipe", __meta, slo, shard]\n'
    assert errors(text) == [
        "3:29 server.metrics.endpoint_labels[1]: 'équipe' cannot be a Prometheus label name (as 'équipe'): "
        "use ASCII letters, digits and _",
        "3:39 server.metrics.endpoint_labels[2]: '__meta' cannot be a Prometheus label name (as '__meta'): "
        "use ASCII letters, digits and _",
        "3:47 server.metrics.endpoint_labels[3]: 'slo' would clash with the 'slo' label of the generated "
        "Prometheus rules",
        "3:52 server.metrics.endpoint_labels[4]: 'shard' would clash with the 'shard' label of the generated "
        "Prometheus rules",
    ]


def test_plain_endpoint_labels_pass(load_config: Loader) -> None:
    config = load_config("server:\n  metrics:\n    endpoint_labels: [team, cost-center]\n")
    assert config.server.metrics.endpoint_labels == ["team", "cost-center"]
