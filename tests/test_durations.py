"""Durations read back as they were written: config dumps, `run --db` overrides and OpenSLO notes."""

from __future__ import annotations

import pytest

from slowatch.cli import _override
from slowatch.config.schema import Config
from slowatch.durations import format_duration, parse_duration
from slowatch.generate.openslo import A_THRESHOLD, generate


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.5, "500ms"), (1.5, "1s500ms"), (2.5, "2s500ms"), (59.6, "59s600ms"), (0.0004, "0.4ms"),
     (90061.25, "1d1h1m1s250ms"), (400 * 86400, "400d"),
     # more than 6 significant digits of milliseconds: `:g` rounded them (59s1000ms, 1s234.568ms, 1e-05ms)
     (59.9999999, "59s999.9999ms"), (1.2345678, "1s234.5678ms"), (1e-8, "0.00001ms")],
)  # fmt: skip
def test_a_duration_is_spelled_exactly(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds, abs=1e-12)


def test_sub_second_settings_survive_a_command_line_override_and_an_openslo_export() -> None:
    config = Config.model_validate(
        {
            "server": {"shutdown_grace": "2.5s", "http": {"header_timeout": "1500ms"}},
            "endpoints": [{"name": "a", "kind": "http", "url": "http://a/"}],
            "consumers": [
                {
                    "name": "shop",
                    "endpoints": ["a"],
                    "slos": [{"name": "fast", "sli": "latency", "threshold": "1500ms", "objective": 99}],
                }
            ],
        }
    )
    server = _override(config, None, "other.db", None).server
    assert (server.shutdown_grace, server.http.header_timeout) == (2.5, 1.5)
    sli = next(d for d in generate(config) if d["kind"] == "SLI")
    assert parse_duration(sli["metadata"]["annotations"][A_THRESHOLD]) == 1.5


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("-5s", "a duration cannot be negative"),
        ("90 m", "did you mean '90m'?"),
        ("1h 30m", "did you mean '1h30m'?"),
        ("1h30", "did you mean '1h30m'?"),
        ("2m30", "did you mean '2m30s'?"),
        ("PT1M", "ISO 8601 durations are not read: write e.g. 90s, 5m, 1h30m"),
        ("P1D", "ISO 8601 durations are not read: write e.g. 90s, 5m, 1h30m"),
        ("1e3s", "no exponents: write e.g. 1000s"),
        ("5 minutes", "use e.g. 500ms, 15s, 5m, 1h, 30d"),
    ],
)
def test_a_near_miss_says_what_to_write(text: str, hint: str) -> None:
    """The forms an SRE plausibly writes (Go's `1h30m` with a space, a bare number after hours, ISO 8601)."""
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    assert str(info.value) == f"not a duration: {text!r} ({hint})"
