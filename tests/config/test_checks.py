"""Semantic checks: cross-field and cross-entry rules, located like every other problem."""

from __future__ import annotations

from collections.abc import Iterable

from slowatch.config import Config
from slowatch.config.checks import CHECKS, check_endpoints
from tests.config.conftest import Errors, Loader

HTTP = "  - name: {name}\n    kind: http\n    url: http://{name}.example/\n"


def test_duplicate_endpoint_names_point_at_the_second(errors: Errors) -> None:
    text = "endpoints:\n" + HTTP.format(name="a") + HTTP.format(name="b") + HTTP.format(name="a")
    assert errors(text) == ["8:11 endpoints[2].name: duplicate endpoint name 'a' (first defined at endpoints[0])"]


def test_timeout_must_be_shorter_than_the_interval(errors: Errors) -> None:
    text = "endpoints:\n" + HTTP.format(name="a") + "    interval: 5s\n    timeout: 5s\n"
    assert errors(text) == ["6:14 endpoints[0].timeout: must be shorter than the interval (5s >= 5s)"]


def test_timeout_from_defaults_is_located_at_defaults(errors: Errors) -> None:
    text = "defaults:\n  timeout: 10s\nendpoints:\n" + HTTP.format(name="a") + "    interval: 5s\n"
    assert errors(text) == [
        "2:12 defaults.timeout: must be shorter than the interval (10s >= 5s) for endpoints[0] 'a', "
        "which does not set its own timeout"
    ]
    builtin = "endpoints:\n" + HTTP.format(name="a") + "    interval: 3s\n"  # the built-in 5s: no `defaults` line
    assert errors(builtin) == [  # it named a timeout the file does not hold, without saying it is the default
        "2:5 endpoints[0].timeout: must be shorter than the interval (5s >= 3s); 5s is the built-in default "
        "timeout: set a shorter `timeout` on the endpoint or in `defaults`"
    ]


def test_timeout_must_be_positive(errors: Errors) -> None:
    text = "endpoints:\n" + HTTP.format(name="a") + "    timeout: 0s\n"
    assert errors(text) == ["5:14 endpoints[0].timeout: must be more than 0s (got '0s')"]


def test_retries_must_fit_in_the_interval(errors: Errors, load_config: Loader) -> None:
    base = "endpoints:\n" + HTTP.format(name="a") + "    interval: 10s\n    timeout: 3s\n    retries: {n}\n"
    assert load_config(base.format(n=1)).endpoints[0].retries == 1  # 3s + 1s + 3s = 7s
    assert errors(base.format(n=2)) == [
        "7:14 endpoints[0].retries: 2 retries of a 3s timeout 1s apart can take 11s, "
        "not shorter than the interval (10s)"
    ]


def test_consumer_references(errors: Errors) -> None:
    text = (
        "endpoints:\n" + HTTP.format(name="payments-api") + "consumers:\n"
        "  - name: checkout\n    endpoints: [payments-api, paymnts-api]\n"
        "  - name: checkout\n    endpoints: [payments-api]\n"
    )
    assert errors(text) == [
        "7:31 consumers[0].endpoints[1]: unknown endpoint 'paymnts-api' (did you mean 'payments-api'?)",
        "8:11 consumers[1].name: duplicate consumer name 'checkout'",
    ]


def test_an_item_with_a_field_error_has_only_its_names_checked(errors: Errors) -> None:
    """Its bad field taken out (config/repair.py), endpoints[1] is still named `a`, a duplicate; no other check
    judges it as it would be with `retries` at its default."""
    text = "endpoints:\n" + HTTP.format(name="a") + HTTP.format(name="a") + "    retries: 99\n"
    assert errors(text) == [
        "5:11 endpoints[1].name: duplicate endpoint name 'a' (first defined at endpoints[0])",
        "8:14 endpoints[1].retries: must be at most 10 (got 99)",
    ]


def test_appended_checks_are_run_and_located(errors: Errors) -> None:
    def search_needs_team(config: Config) -> Iterable[tuple[tuple[str | int, ...], str]]:
        for i, ep in enumerate(config.endpoints):
            if "search" in ep.name and "team" not in ep.labels:
                yield ("endpoints", i, "labels"), "search endpoints need a team label"

    text = "endpoints:\n" + HTTP.format(name="a") + HTTP.format(name="search") + "    labels: {}\n"
    CHECKS.append(search_needs_team)
    try:
        assert errors(text) == ["8:5 endpoints[1].labels: search endpoints need a team label"]
    finally:
        CHECKS.remove(search_needs_team)


def test_check_endpoints_on_a_config(load_config: Loader) -> None:
    config = load_config("endpoints:\n" + HTTP.format(name="a"))
    assert list(check_endpoints(config)) == []
    twice = config.model_copy(update={"endpoints": [config.endpoints[0]] * 2})
    message = "duplicate endpoint name 'a' (first defined at endpoints[0])"
    assert list(check_endpoints(twice)) == [(("endpoints", 1, "name"), message)]
