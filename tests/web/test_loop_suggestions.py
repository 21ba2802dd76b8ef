"""The API's "did you mean" for an unknown consumer runs on the event loop: with many consumers it gives none.

Measured (10,000 consumer names of ~23 characters): one search took ~150 ms, repeatable by any client with
a token; at `LOOP_CHOICES` (1,000) names it takes ~15 ms at worst. The CLI, off any loop, always suggests.
"""

from __future__ import annotations

import pytest

from slowatch.annotate import AnnotationError, parse_annotation
from slowatch.config import Config, load_text
from slowatch.config.messages import LOOP_CHOICES, loop_did_you_mean
from slowatch.slo.corrections import validate

NOW = 1_800_000_000.0


def consumers(n: int) -> Config:
    names = "".join(f"  - {{name: team-checkout-{i}}}\n" for i in range(n))
    return load_text(f"consumers:\n{names}")


def annotation_error(config: Config) -> str:
    with pytest.raises(AnnotationError) as info:
        doc = {"kind": "note", "text": "x", "consumer": "team-chekout-7"}
        parse_annotation(config, doc, NOW, "api", loop_did_you_mean)
    return info.value.message


def correction_error(config: Config) -> str:
    return validate(config, "team-chekout-7", None, None, NOW - 60, NOW - 30, "x", NOW, loop_did_you_mean)[0]


def test_few_consumers_get_a_suggestion_on_the_loop() -> None:
    config = consumers(LOOP_CHOICES)
    assert annotation_error(config) == "unknown consumer 'team-chekout-7' (did you mean 'team-checkout-7'?)"
    assert correction_error(config) == "unknown consumer 'team-chekout-7' (did you mean 'team-checkout-7'?)"


def test_many_consumers_get_none_on_the_loop_but_in_the_cli() -> None:
    config = consumers(LOOP_CHOICES + 1)
    assert annotation_error(config) == "unknown consumer 'team-chekout-7'"
    assert correction_error(config) == "unknown consumer 'team-chekout-7'"
    assert validate(config, "team-chekout-7", None, None, NOW - 60, NOW - 30, "x", NOW)[0].endswith(
        "(did you mean 'team-checkout-7'?)"
    )
