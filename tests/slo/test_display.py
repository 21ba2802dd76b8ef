"""The rules for extreme figures (slowatch/slo/display.py), one test each, and their use in the text
renderings (report_format, the alert sinks, the deploy gate)."""

from __future__ import annotations

import math

import pytest

from slowatch.alerting.sinks import text
from slowatch.config.consumers import SloConfig
from slowatch.slo.display import (
    budget_left_words,
    budget_text,
    budget_time_words,
    budget_used_words,
    burn_words,
    duration_pair,
    duration_words,
    of_budget,
    percent,
    share_words,
    times,
)
from slowatch.slo.gate import decide
from slowatch.slo.report_format import objective_pct, pct, span


def test_a_percentage_beyond_a_thousand_is_only_its_bound() -> None:
    assert percent(0.623) == "62.3%" and percent(9.995) == "999.5%" and percent(10.0) == "1,000%"
    assert percent(399.0) == "> 1,000%" and percent(-399.0) == "< -1,000%"
    assert percent(math.inf) == "> 1,000%" and percent(math.nan) == "n/a" and percent(None) == "n/a"


def test_a_multiple_above_a_thousand_reads_as_the_bound() -> None:
    assert times(2.0) == "2.0\u00d7" and times(14.4, "x") == "14.4x" and times(99.99, "x") == "100x"
    assert times(400.0, "x") == "400x" and times(1000.0, "x") == "1,000x"
    assert times(80_000.0, "x") == "> 1,000x" and times(400_000_011.3, "x") == "> 1,000x"
    assert times(math.inf, "x") == "> 1,000x" and times(math.nan) == "n/a" and times(None) == "n/a"


def test_a_percentage_is_never_rounded_onto_0_or_100_nor_reads_minus_0() -> None:
    assert percent(0.9996) == "99.96%" and percent(0.99996) == "99.996%" and percent(0.999999999) == "99.9999%"
    assert percent(4e-5) == "0.004%" and percent(1e-12) == "0.0001%" and percent(-0.0) == "0%"
    assert percent(-1e-5) == "-0.001%" and percent(1.0000001) == "100.0001%" and percent(1.0) == "100%"
    assert budget_left_words(-1e-7) == "exhausted (overspent by 0.0001%)" and percent(0.0) == "0%"


def test_a_small_multiple_is_not_zero_and_none_is_negative() -> None:
    assert times(0.02, "x") == "0.02x" and times(0.005, "x") == "< 0.01x" and times(0.0, "x") == "0.0x"
    assert times(-0.01, "x") == "0.0x" and times(0.1, "x") == "0.1x" and times(0.094, "x") == "0.09x"


def test_an_overspent_budget_reads_exhausted_never_a_negative_percentage() -> None:
    assert budget_left_words(0.25) == "25%" and budget_left_words(0.0) == "0%"
    assert budget_left_words(-0.5) == "exhausted (overspent by 50%)"
    assert budget_left_words(-9.0) == "exhausted (overspent by 900%)"
    assert budget_left_words(-399.0, "x") == "exhausted (spent 400x its budget)"
    assert budget_left_words(-79_999.0, "x") == "exhausted (spent > 1,000x its budget)"
    assert budget_text("ok", 2880, 0.999, -399.0) == "exhausted (spent 400\u00d7 its budget)"


def test_budget_used_and_shares_turn_into_multiples_past_a_thousand_percent() -> None:
    assert budget_used_words(0.37) == "37%" and budget_used_words(9.5) == "950%"
    assert budget_used_words(400.0, "x") == "400x the budget"
    assert budget_used_words(400_000_011.3, "x") == "> 1,000x the budget"
    assert of_budget(0.37) == "37% of the budget" and of_budget(400.0, sign="x") == "400x the budget"


def test_shares_of_a_budget_still_collecting_data_read_collecting_data() -> None:
    assert share_words(400_000_011.3, collecting=True) == "collecting data"
    assert of_budget(333.3, collecting=True) == "collecting data"
    assert share_words(0.4) == "40%"


def test_burn_rates_of_an_slo_collecting_data_are_not_shown() -> None:
    assert burn_words(333.3, "too_few_events") == "collecting data"
    assert burn_words(None) == "\u2014" and burn_words(400.0, sign="x") == "400x"
    assert burn_words(400_000_011.3) == "> 1,000\u00d7"


def test_durations_are_never_negative() -> None:
    assert duration_words(-5.8 * 86400) == "none" and duration_words(0.0) == "0ms"
    assert budget_time_words(-5.8 * 86400) == "none (5d 19h over budget)"
    assert budget_time_words(3 * 3600 + 20 * 60) == "3h 20m"
    assert span(-241315.2) == "none (2d19h1m55s over budget)" and span(0.0006) == "under 1s"


def test_durations_never_read_a_unit_full_of_the_one_below() -> None:
    """0.9996 s read "1000ms", 3,599 s "60m", 86,399 s "24h", -0.0 "-0ms"."""
    assert duration_words(0.9996) == "1s" and duration_words(3599) == "1h" and duration_words(86399) == "1d"
    assert duration_words(-0.0) == "0ms" and duration_words(3570) == "1h" and duration_words(3540) == "59m"
    assert duration_words(86370) == "1d" and duration_words(86340) == "23h 59m" and duration_words(0.9994) == "999ms"


def test_durations_beyond_a_thousand_days_or_under_a_millisecond_are_bounds() -> None:
    assert duration_words(1e12) == "> 1,000d" and duration_words(400 * 86400) == "400d"
    assert duration_words(0.0006048) == "1ms" and duration_words(0.0001) == "under 1ms"
    assert duration_words(math.inf) == "never" and duration_words(math.nan) == "n/a"
    assert text.duration(1e12) == "> 1,000d" and text.duration(math.nan) == "n/a"


def test_report_percentages_are_never_rounded_up_to_100() -> None:
    assert objective_pct(0.999) == "99.900%" and objective_pct(0.999999999) == "99.9999999%"
    assert pct(0.99821) == "99.821%" and pct(0.9999996) == "99.99996%" and pct(1.0) == "100.000%"


def test_alert_texts_say_budgets_in_words() -> None:
    assert text.left(-399.0) == "exhausted (spent 400x its budget)" and text.left(0.502) == "50.2%"
    assert text.used(1000.0) == "1,000x the budget" and text.used(0.05) == "5%"
    assert text.burn(1e6) == "> 1,000x" and text.burn(14.4) == "14.4x"


@pytest.mark.parametrize(
    ("remaining", "burn", "words"),
    [
        (-399.0, 0.0, "the error budget is spent (400x the budget spent, burning 0.0x over the last hour)"),
        (-0.5, 2e6, "the error budget is spent (150% of the budget spent, burning > 1,000x over the last hour)"),
    ],
)
def test_gate_reasons_say_an_overspent_budget_in_words(remaining: float, burn: float, words: str) -> None:
    slo = SloConfig.model_validate({"name": "avail", "sli": "availability", "objective": 99.9, "policy": {}})
    assert decide("shop", slo, "ok", remaining, burn).reason == f"shop/avail: {words}"


def test_spans_of_a_few_days_keep_their_hours() -> None:
    """1.04 days and 1.96 days read "1d" and "2d": a card said "1d of 1d" next to 99.2% budget left, and a
    time to exhaustion of 1d 23h read as two days."""
    assert duration_words(1.96 * 86400) == "1d 23h" and duration_words(1.04 * 86400) == "1d 1h"
    assert duration_words(86400) == "1d" and duration_words(2 * 86400 + 2400) == "2d 1h"  # (rounded at the hour)
    assert duration_words(9.99 * 86400) == "10d" and duration_words(12.5 * 86400) == "12.5d"
    assert budget_time_words(-5.8 * 86400) == "none (5d 19h over budget)"


def test_a_share_of_a_span_never_reads_as_the_whole_span() -> None:
    """The consumer card's "so far 43m of 43m" (99.2% left of 43 min 12 s): one more unit where the words
    would be equal, the same words only where the figures are."""
    whole = 43 * 60 + 12
    assert duration_pair(0.992 * whole, whole) == ("42m 51s", "43m 12s")
    assert duration_pair(0.992 * 1.04 * 86400, 1.04 * 86400) == ("1d 46m", "1d 58m")
    assert duration_pair(1800, 3600) == ("30m", "1h") and duration_pair(3600, 3600) == ("1h", "1h")
