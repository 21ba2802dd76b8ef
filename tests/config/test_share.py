"""Equal parts of endpoints shared across calls (config/share.py `Interner`): what a prober worker does with the
chunks of its shard, each pickled apart."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from slowatch.config import load
from slowatch.config.endpoints import Endpoint
from slowatch.config.share import Interner, share_equal_parts
from tests.config.test_isolated import big_config


@pytest.fixture
def endpoints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Endpoint]:
    monkeypatch.setenv("BASE", "http://127.0.0.1:9")
    path = tmp_path / "c.yaml"
    path.write_text(big_config(60))
    return list(load(path).endpoints)


def chunks(endpoints: list[Endpoint], size: int) -> list[list[Endpoint]]:
    """As the daemon sends a shard: each chunk pickled on its own."""
    return [pickle.loads(pickle.dumps(endpoints[i : i + size])) for i in range(0, len(endpoints), size)]


def distinct(endpoints: list[Endpoint], field: str) -> int:
    return len({id(getattr(ep, field)) for ep in endpoints if not ep.expect.body})


def test_chunks_pickled_apart_share_again_through_one_interner(endpoints: list[Endpoint]) -> None:
    parts = chunks(endpoints, 7)
    arrived = [ep for part in parts for ep in part]
    assert distinct(arrived, "labels") >= len(parts)  # (at least) one copy per chunk
    shared = Interner()
    for part in parts:
        share_equal_parts(part, shared)
    for field in ("labels", "expect", "alerts", "tls", "interval", "__pydantic_fields_set__"):
        assert distinct(arrived, field) == 1, field
    assert arrived == endpoints  # the same values
    with_body = {id(ep.expect) for ep in arrived if ep.expect.body}
    assert len(with_body) == sum(1 for ep in arrived if ep.expect.body)  # left alone: share.py


def test_a_later_call_shares_with_the_instances_of_earlier_ones(endpoints: list[Endpoint]) -> None:
    shared = Interner()
    first, later = chunks(endpoints, 30)
    share_equal_parts(first, shared)
    replaced = share_equal_parts(later, shared)
    assert replaced > 0
    assert later[1].alerts is first[1].alerts and later[1].labels is first[1].labels
    assert share_equal_parts(later, shared) == 0  # nothing left to replace


def test_an_interner_grown_past_its_bound_starts_afresh(
    endpoints: list[Endpoint], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("slowatch.config.share.KEPT", 0)
    shared = Interner()
    first, later = chunks(endpoints, 30)
    share_equal_parts(first, shared)
    share_equal_parts(later, shared)  # forgot the first call's instances: shares only among its own
    assert later[1].labels is not first[1].labels
    assert later[1].labels is later[2].labels


def test_pruning_forgets_only_what_no_endpoint_in_use_holds(
    endpoints: list[Endpoint], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("slowatch.config.share.PRUNE_FROM", 1)
    shared = Interner()
    first, later = chunks(endpoints, 30)
    share_equal_parts(first, shared)
    assert shared.prune(first) == 0  # everything it holds is held by `first`
    share_equal_parts(later, shared)
    assert later[1].labels is first[1].labels and later[1].alerts is first[1].alerts  # still shared
    assert shared.prune([]) == 0  # not twice as many as the last pruning kept: not looked at
    fresh = Interner()
    share_equal_parts(first, fresh)
    assert fresh.prune([]) > 0  # no endpoint in use (e.g. all removed): all forgotten
    assert not fresh.dicts and not any(fresh.models.values())
