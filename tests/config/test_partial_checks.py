"""Cross-reference problems are reported in the same run as field errors, without false ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from slowatch.cli import main
from slowatch.config import load_text
from slowatch.errors import ConfigError


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_text(text, "c.yaml")
    return [str(p) for p in info.value.problems]


def test_field_errors_and_unknown_references_together() -> None:
    found = problems(
        """
endpoints:
  - {name: a, kind: http, url: "http://x/", interval: 0s}
  - {name: b, kind: http, url: "http://x/"}
consumers:
  - {name: c, endpoints: [b, missing]}
"""
    )
    assert found == [
        "c.yaml:3:55 endpoints[0].interval: must be at least 1s (got '0s')",
        "c.yaml:6:30 consumers[0].endpoints[1]: unknown endpoint 'missing'",
    ]


def test_reference_to_an_endpoint_with_a_field_error_is_not_called_unknown() -> None:
    found = problems(
        """
endpoints:
  - {name: a, kind: http, url: "http://x/", retries: 99}
  - {name: b, kind: http, url: "http://x/"}
consumers:
  - {name: c, endpoints: [a, b]}
  - {name: c, endpoints: [b]}
"""
    )
    assert len(found) == 2
    assert "endpoints[0].retries: must be at most 10" in found[0]
    assert found[1].endswith("consumers[1].name: duplicate consumer name 'c'")
    # Later list items keep their original index in the message after a broken one is set aside.


def test_an_item_with_a_field_error_still_has_its_references_checked() -> None:
    """A consumer with a bad SLO field, an endpoint with a bad interval: their unknown references were
    reported only by a second `check` run, after the field errors were fixed."""
    found = problems(
        """
endpoints:
  - {name: a, kind: http, url: "http://x/", interval: 0s, depends_on: [nope]}
  - {name: b, kind: http, url: "http://x/"}
consumers:
  - name: c
    endpoints: [b, missing, 7]
    slos:
      - {name: up, sli: availability, objective: 999}
      - {name: fast, sli: availability, objective: 99, alert_sinks: [x]}
      - {name: trip, objective: 99, composite: {method: worst, members: [{slo: up}, {slo: fast}, {slo: nah}]}}
  - {name: d, endpoints: [a]}
"""
    )
    assert found == [
        "c.yaml:3:55 endpoints[0].interval: must be at least 1s (got '0s')",
        "c.yaml:3:72 endpoints[0].depends_on[0]: unknown endpoint 'nope'",
        "c.yaml:7:20 consumers[0].endpoints[1]: unknown endpoint 'missing'",
        "c.yaml:7:29 consumers[0].endpoints[2]: must be a string or a mapping with labels (got 7)",
        "c.yaml:9:50 consumers[0].slos[0].objective: must be less than 100.0 (got 999)",
        "c.yaml:10:56 consumers[0].slos[1].alert_sinks: unknown field 'alert_sinks'",
        "c.yaml:11:104 consumers[0].slos[2].composite.members[2].slo: unknown SLO 'c/nah'",
    ]


def test_indices_after_a_broken_item_point_at_the_right_line() -> None:
    found = problems(
        """
endpoints:
  - {name: a, kind: http, url: "http://x/", retries: 99}
  - {name: b, kind: http, url: "http://x/"}
  - {name: b, kind: http, url: "http://x/"}
"""
    )
    assert found[1].startswith("c.yaml:5:")
    assert "endpoints[2].name: duplicate endpoint name 'b'" in found[1]


def test_broken_top_level_section_skips_the_second_pass() -> None:
    found = problems(
        """
defaults: {interval: 0s}
endpoints:
  - {name: a, kind: http, url: "http://x/", timeout: 20s}
consumers:
  - {name: c, endpoints: [nope]}
"""
    )
    assert found == ["c.yaml:2:22 defaults.interval: must be at least 1s (got '0s')"]


def test_endpoint_labels_that_clash_with_metric_labels_are_config_errors() -> None:
    found = problems("server:\n  metrics:\n    endpoint_labels: [team, kind, team]\n")
    assert len(found) == 1
    assert "server.metrics.endpoint_labels: 'kind' would clash with slowatch's own 'kind' label" in found[0]
    found = problems("server:\n  metrics:\n    duration_buckets: [1, 0.5]\n")
    assert "server.metrics.duration_buckets: must be positive, increasing bucket bounds" in found[0]


def test_a_typo_is_matched_against_every_name_in_the_file_including_ones_with_field_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`payments-api` (bad interval) was set aside before the reference checks, so the typo `paymnts-api`
    got "did you mean 'auth-api'?"; likewise a sink with a bad field and a consumer with a bad SLO."""
    path = tmp_path / "c.yaml"
    path.write_text(
        """\
endpoints:
  - {name: payments-api, kind: http, url: "http://x/", interval: banana}
  - {name: auth-api, kind: http, url: "http://x/"}
consumers:
  - {name: checkout, endpoints: [auth-api], slos: [{name: up, sli: availability, objective: 999}]}
  - {name: chekout-ui, endpoints: [paymnts-api, auth-api]}
sinks:
  pager-duty: {kind: webhook, url: "http://x/", timeout: never}
  pager-chat: {kind: webhook, url: "http://x/"}
routes:
  - {match: {consumer: checkot}, sinks: [pager-dutty]}
"""
    )
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "unknown endpoint 'paymnts-api' (did you mean 'payments-api'?)" in err, err
    assert "unknown consumer 'checkot' (did you mean 'checkout'?)" in err, err
    assert "unknown sink 'pager-dutty' (did you mean 'pager-duty'?)" in err, err


@pytest.mark.parametrize("route", ["{sinks: oops}", "{match: {}}", "7"])
def test_a_set_aside_route_is_not_called_missing(route: str) -> None:
    """The only route has a field error of its own: it was set aside, and the check of the rest said no route
    sent anything to the sinks (`routes: sinks are defined but no route sends anything to them`)."""
    found = problems(
        f"""
sinks:
  hook: {{kind: webhook, url: "http://x/"}}
routes:
  - {route}
"""
    )
    assert len(found) == 1, found
    assert "routes[0]" in found[0]
