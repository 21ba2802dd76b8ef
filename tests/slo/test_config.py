"""Consumer, SLO and maintenance config: shape errors and located semantic checks."""

from __future__ import annotations

import textwrap

import pytest

from slowatch.config import load_text
from slowatch.config.consumers import SloConfig
from slowatch.errors import ConfigError
from slowatch.slo.definitions import compile_config

BASE = """
endpoints:
  - {name: payments-api, kind: http, url: "http://p/", labels: {tier: critical}}
  - {name: catalog-api, kind: http, url: "http://c/", labels: {tier: standard}}
"""

EXAMPLE = """
consumers:
  - name: checkout
    description: Checkout web and mobile apps
    endpoints: [payments-api, {labels: {tier: standard}}]
    slos:
      - name: availability
        sli: availability
        objective: 99.9
        window: 30d
      - name: fast-payments
        sli: latency
        threshold: 300ms
        endpoints: [payments-api]
        objective: 99
        window: {calendar: month, timezone: Europe/Berlin}
        budgeting: timeslices
        timeslice: {length: 1m, good_when: 0.95}
maintenance:
  - name: weekly-db-patching
    consumers: [checkout]
    recurring: {weekday: sun, start: "02:00", duration: 2h, timezone: Europe/Berlin}
  - name: migration
    endpoints: [catalog-api]
    start: 2026-12-01T22:00:00Z
    end: 2026-12-02T01:00:00Z
"""


def problems(yaml: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_text(BASE + textwrap.dedent(yaml), "slo.yaml")
    return [f"{p.path}: {p.message}" for p in info.value.problems]


def test_the_documented_example_loads_and_compiles() -> None:
    config = load_text(BASE + EXAMPLE, "slo.yaml")
    defs = compile_config(config)
    assert [(d.name, d.endpoints) for d in defs] == [
        ("availability", ("payments-api", "catalog-api")),
        ("fast-payments", ("payments-api",)),
    ]
    assert defs[0].objective == 0.999 and defs[1].threshold == 0.3 and defs[1].good_when == 0.95
    assert config.maintenance[0].recurring is not None and config.maintenance[0].recurring.weekdays == {6}
    assert defs[0].fingerprint != defs[1].fingerprint


def slo(**fields: object) -> str:
    body = ", ".join(f"{k}: {v}" for k, v in {"name": "s", "sli": "availability", "objective": 99, **fields}.items())
    return f"consumers:\n  - name: shop\n    endpoints: [payments-api]\n    slos:\n      - {{{body}}}\n"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"objective": 100}, "consumers[0].slos[0].objective: "),
        ({"objective": 0}, "consumers[0].slos[0].objective: "),
        ({"sli": "latency"}, "a latency SLI needs `threshold`"),
        ({"threshold": "300ms"}, "`threshold` is only allowed with sli: latency"),
        ({"window": "{calendar: month, timezone: Mars/Olympus}"}, "unknown time zone 'Mars/Olympus'"),
        ({"window": "90m"}, "a rolling window must be a whole number of hours"),
        ({"window": "{calendar: fortnight}"}, "consumers[0].slos[0].window"),
        ({"timeslice": "{length: 1m}"}, "`timeslice` is only allowed with budgeting: timeslices"),
        ({"budgeting": "timeslices", "timeslice": "{length: 7m}"}, "divides an hour"),
        ({"objectiv": 99}, "consumers[0].slos[0].objectiv"),
    ],
)
def test_invalid_slos_are_located_errors(fields: dict[str, object], expected: str) -> None:
    found = problems(slo(**fields))
    assert any(expected in p for p in found), found


@pytest.mark.parametrize("zone", ["Europe", "__pycache__", "a" * 300, "zone.tab", "Europe/../Berlin"])
def test_a_time_zone_that_is_a_directory_or_too_long_is_an_error(zone: str) -> None:
    """ZoneInfo raises OSError (IsADirectoryError, name too long) for these, not ZoneInfoNotFoundError:
    `timezone: Europe` was a traceback from slowatch check."""
    window = f"{{calendar: month, timezone: {zone}}}"
    recurring = f"{{weekday: sun, start: '02:00', duration: 2h, timezone: {zone}}}"
    text = slo(window=window) + f"maintenance:\n  - {{name: m, consumers: [shop], recurring: {recurring}}}\n"
    shown = repr(zone) if len(zone) <= 100 else f"'{zone[:40]}…{zone[-10:]}' ({len(zone)} characters)"
    hint = "did you mean 'Europe/Berlin'?" if zone == "Europe/../Berlin" else "use an IANA name such as Europe/Berlin"
    assert problems(text) == [
        f"consumers[0].slos[0].window.timezone: unknown time zone {shown} ({hint})",
        f"maintenance[0].recurring.timezone: unknown time zone {shown} ({hint})",
    ]


def test_unknown_endpoints_and_empty_selectors_are_located_semantic_errors() -> None:
    found = problems(
        """
        consumers:
          - name: shop
            endpoints: [payments-api, nope, {labels: {tier: gold}}]
            slos:
              - {name: s, sli: availability, objective: 99, endpoints: [payments-api, x, catalog-api]}
              - {name: s, sli: availability, objective: 99}
        maintenance:
          - {name: m, consumers: [nobody], endpoints: [ghost], start: 2026-01-01T00:00:00Z, end: 2026-01-01T01:00:00Z}
        """
    )
    assert "consumers[0].endpoints[1]: unknown endpoint 'nope'" in found
    assert "consumers[0].endpoints[2]: label selector {'tier': 'gold'} matches no endpoint" in found
    assert "consumers[0].slos[0].endpoints[1]: unknown endpoint 'x'" in found
    assert "consumers[0].slos[0].endpoints[2]: narrows to endpoint(s) outside consumer 'shop': catalog-api" in found
    assert "consumers[0].slos[1].name: duplicate SLO name 's' in consumer 'shop'" in found
    assert "maintenance[0].consumers[0]: unknown consumer 'nobody'" in found
    assert "maintenance[0].endpoints[0]: unknown endpoint 'ghost'" in found


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        ("{name: m, consumers: [shop]}", "needs `start` and `end`, or `recurring`"),
        ("{name: m, start: 2026-01-01T00:00:00Z, end: 2026-01-01T01:00:00Z}", "name the `consumers` or `endpoints`"),
        ("{name: m, consumers: [shop], start: 2026-01-02T00:00:00Z, end: 2026-01-01T00:00:00Z}", "must be after"),
        ("{name: m, consumers: [shop], start: 2026-01-01T00:00:00, end: 2026-01-02T00:00:00Z}", "include an offset"),
        ("{name: m, consumers: [shop], recurring: {start: '25:00', duration: 1h}}", "must be a local time"),
        ("{name: m, consumers: [shop], recurring: {start: '02:00', duration: 8d}}", "at most 7d"),
        ("{name: m, consumers: [shop], recurring: {weekday: sunday, start: '02:00', duration: 1h}}", "weekday"),
        ("{name: m, consumers: [shop], recurring: {start: '02:00', duration: 1h, timezone: Nowhere}}", "time zone"),
    ],
)
def test_invalid_maintenance_windows(window: str, expected: str) -> None:
    found = problems(slo() + f"maintenance:\n  - {window}\n")
    assert any(expected in p for p in found), found


def test_objective_ratio_is_the_nearest_double() -> None:
    assert SloConfig(name="s", sli="availability", objective=99.9).ratio == 0.999
    assert SloConfig(name="s", sli="availability", objective=99.95).ratio == 0.9995


@pytest.mark.parametrize(
    ("zone", "meant"),
    [("Europe/berlin", "Europe/Berlin"), ("America/New York", "America/New_York"), ("Europe/Berln", "Europe/Berlin")],
)
def test_a_misspelled_time_zone_gets_a_suggestion(zone: str, meant: str) -> None:
    window = f"{{calendar: month, timezone: '{zone}'}}"
    assert problems(slo(window=window)) == [
        f"consumers[0].slos[0].window.timezone: unknown time zone {zone!r} (did you mean {meant!r}?)"
    ]


@pytest.mark.parametrize(("objective", "meant"), [("0.999", "99.9"), ("0.9995", "99.95"), ("0.5", "50"), ("1", "")])
def test_an_objective_written_as_a_ratio_is_an_error_not_a_tiny_percentage(objective: str, meant: str) -> None:
    """`objective: 0.999` (a ratio, as OpenSLO and Sloth write it) was 0.999 %: a budget of 99 % of all
    probes, so the SLO never burned and never paged."""
    fix = f"write {meant} for {meant} %" if meant else "an objective is below 100 %, e.g. 99.9"
    assert problems(slo(objective=objective)) == [
        f"consumers[0].slos[0].objective: is a percentage: {objective} means {objective} % "
        f"({fix}; an objective of 1 % or less is refused)"
    ]
