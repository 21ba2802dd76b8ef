"""The deploy gate's rules, by hand: which rule decides, and what the answer says."""

from __future__ import annotations

import math

import pytest

from slowatch.config.consumers import SloConfig
from slowatch.slo.gate import consumer_gate, decide


def slo(**policy: object) -> SloConfig:
    doc: dict[str, object] = {"name": "avail", "sli": "availability", "objective": 99.9}
    if policy:
        doc["policy"] = policy
    return SloConfig.model_validate(doc)


@pytest.mark.parametrize(
    ("policy", "state", "remaining", "burn", "decision", "rule"),
    [
        ({}, "ok", -1.0, 50.0, "go", "no policy"),
        ({"freeze_below": "25%"}, "no_data", None, None, "go", "collecting data"),
        ({"freeze_below": "25%"}, "too_few_events", -3.0, 9.0, "go", "collecting data"),
        ({"freeze_below": "25%"}, "ok", 0.0, 1.0, "hold", "on_exhausted: freeze"),
        ({"freeze_below": "25%", "on_exhausted": "allow"}, "ok", -0.5, 1.0, "go", "on_exhausted: allow"),
        ({"freeze_below": "25%"}, "ok", 0.249, 1.0, "hold", "freeze_below: 25.0%"),
        ({"freeze_below": "25%"}, "ok", 0.25, 1.0, "go", "within policy"),
        ({"freeze_below": 10, "max_burn_rate": 6}, "ok", 0.9, 6.5, "hold", "max_burn_rate: 6"),
        ({"max_burn_rate": 6}, "ok", 0.9, 6.0, "go", "within policy"),
        ({"max_burn_rate": 6}, "ok", 0.9, None, "go", "within policy"),
        ({"freeze_below": "25%"}, "ok", math.nan, math.inf, "go", "collecting data"),
    ],
)
def test_rules(
    policy: dict[str, object], state: str, remaining: float | None, burn: float | None, decision: str, rule: str
) -> None:
    answer = decide("shop", slo(**policy), state, remaining, burn)
    assert (answer.decision, answer.rule) == (decision, rule)
    for value in (answer.budget_remaining, answer.burn_rate_1h):
        assert value is None or math.isfinite(value)


def test_reason_and_message() -> None:
    answer = decide("shop", slo(freeze_below="25%", message="ask #sre"), "ok", 0.1, 2.0)
    assert answer.reason == (
        "shop/avail: 10.0% of the error budget left, burning 2.0x over the last hour, below the 25.0% freeze line"
    )
    assert answer.message == "ask #sre"
    assert decide("shop", slo(freeze_below="25%", message="ask #sre"), "ok", 0.9, 0.0).message == ""


def test_consumer_holds_when_any_slo_holds() -> None:
    go = decide("shop", slo(freeze_below="25%"), "ok", 0.9, 0.1)
    hold = decide("shop", slo(freeze_below="25%"), "ok", 0.1, 0.1)
    assert consumer_gate("shop", [go, go])["decision"] == "go"
    doc = consumer_gate("shop", [go, hold])
    assert doc["decision"] == "hold" and doc["reason"] == hold.reason and len(doc["slos"]) == 2
    assert consumer_gate("shop", []) == {"consumer": "shop", "decision": "go", "reason": "shop has no SLOs", "slos": []}


@pytest.mark.parametrize("bad", ["0%", "101%", "x%", "-5", True, "nan%"])
def test_bad_freeze_below_is_an_error(bad: object) -> None:
    with pytest.raises(ValueError, match="freeze_below"):
        slo(freeze_below=bad)
