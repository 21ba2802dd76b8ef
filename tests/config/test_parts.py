"""A Config in parts (config/parts.py): a reload takes over the Endpoint objects of the parts it did not change."""

from __future__ import annotations

from pathlib import Path

import pytest

from slowatch.config import load
from slowatch.config.cache import cache_key, read_cached
from slowatch.config.isolated import load_isolated
from slowatch.config.parts import Unpacker, pack, part_of, parts
from slowatch.config.schema import Config
from tests.config.test_isolated import big_config


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("slowatch.config.parts.PART_SIZE", 10)


def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, n: int = 120, name: str = "c.yaml") -> Path:
    monkeypatch.setenv("BASE", "http://127.0.0.1:9")
    path = tmp_path / name
    path.write_text(big_config(n) + "consumers:\n  - name: shop\n    endpoints: [ep-1, ep-2]\n    slos:\n"
                    "      - name: up\n        sli: availability\n        objective: 99.5\n")  # fmt: skip
    return path


def started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Unpacker, Config]:
    """The config file, the daemon's Unpacker and the running Config it built from the file."""
    path = config_file(tmp_path, monkeypatch)
    unpacker = Unpacker()
    return path, unpacker, unpacker.build(pack(load(path)))


def edited(path: Path, old: str, new: str) -> Config:
    path.write_text(path.read_text().replace(old, new, 1))
    return load(path)


def test_parts_grow_by_powers_of_two() -> None:
    assert [parts(n) for n in (0, 1, 2000, 2001, 4000, 4001, 100_000)] == [1, 1, 1, 2, 2, 4, 64]


def test_a_packed_config_builds_back_equal_in_its_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       small_parts: None) -> None:  # fmt: skip
    config = load(config_file(tmp_path, monkeypatch))
    built = Unpacker().build(pack(config))
    assert built == config
    assert [ep.name for ep in built.endpoints] == [f"ep-{i}" for i in range(120)]
    assert built.consumers[0].name == "shop"


def test_a_changed_endpoint_is_unpickled_alone_the_rest_taken_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_parts: None
) -> None:
    path, unpacker, first = started(tmp_path, monkeypatch)
    count = parts(120)
    assert count == 8 and unpacker.reused == 0
    second = unpacker.build(pack(edited(path, "${BASE}/7\n", "${BASE}/7?changed=1\n")))
    assert unpacker.reused == count - 1
    assert second.endpoints[7].url == "http://127.0.0.1:9/7?changed=1"
    changed = part_of("ep-7", count)
    for old, new in zip(first.endpoints, second.endpoints, strict=True):
        if part_of(old.name, count) == changed:
            assert old is not new  # unpickled: its part's bytes differ
        else:
            assert old is new  # the running object, not a copy
    assert second == load(path)


def test_an_added_endpoint_keeps_its_place_and_the_other_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_parts: None
) -> None:
    path, unpacker, first = started(tmp_path, monkeypatch)
    added = "  - name: ep-new\n    kind: http\n    url: http://127.0.0.1:9/new\n"
    second = unpacker.build(pack(edited(path, "  - name: ep-50\n", added + "  - name: ep-50\n")))
    names = [ep.name for ep in second.endpoints]
    assert names.index("ep-new") == 50 and len(names) == 121
    assert unpacker.reused == parts(121) - 1
    assert sum(1 for ep in second.endpoints if any(ep is old for old in first.endpoints)) >= 100
    assert second == load(path)


def test_a_change_outside_the_endpoints_takes_over_every_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_parts: None
) -> None:
    path, unpacker, first = started(tmp_path, monkeypatch)
    second = unpacker.build(pack(edited(path, "objective: 99.5", "objective: 99.9")))
    assert unpacker.reused == parts(120)
    assert all(a is b for a, b in zip(first.endpoints, second.endpoints, strict=True))
    assert second.consumers[0].slos[0].objective == 99.9


def test_two_loader_children_pickle_the_same_config_to_the_same_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each reload's child is a new process: sets of strings (the models' fields-sets) pickle in string-hash
    order, which differs between processes unless the child's PYTHONHASHSEED is fixed. Without it no part
    would ever match, and every reload would unpickle and free the whole config again."""
    path = config_file(tmp_path, monkeypatch, n=300)
    unpacker = Unpacker()  # the daemon's, kept from one load to the next
    first = load_isolated(path, threshold=1, cache_above=1 << 40, unpacker=unpacker)  # a child each time, no cache
    second = load_isolated(path, threshold=1, cache_above=1 << 40, unpacker=unpacker)
    assert second == first
    assert all(a is b for a, b in zip(first.endpoints, second.endpoints, strict=True))


def test_a_reload_through_the_cache_takes_over_what_the_start_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The start reads the compiled cache a child wrote; the reload's child packs the edited file: the parts
    it did not change match the cache's bytes."""
    path = config_file(tmp_path, monkeypatch, n=300)
    load_isolated(path, threshold=1, cache_above=1)  # a child loads it and writes the cache
    unpacker = Unpacker()
    started = read_cached(path, cache_key(path.read_bytes(), {"BASE": "http://127.0.0.1:9"}), unpacker)
    assert started is not None
    edited(path, "objective: 99.5", "objective: 99.0")
    reloaded = load_isolated(path, threshold=1, cache_above=1, unpacker=unpacker)
    assert reloaded.consumers[0].slos[0].objective == 99.0
    assert all(a is b for a, b in zip(started.endpoints, reloaded.endpoints, strict=True))
    assert load_isolated(path, threshold=1, cache_above=1).endpoints[0] is not started.endpoints[0]  # (no unpacker)


def test_the_diff_leaves_out_the_places_holding_the_same_object(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from slowatch.config.diff import diff_endpoints

    old = load(config_file(tmp_path, monkeypatch, n=30)).endpoints
    new = list(old)
    new[3], new[4] = new[4], new[3]  # moved: no change
    new[9] = old[9].model_copy()  # an equal copy: no change
    new[12] = old[12].model_copy(update={"timeout": 2.0})
    changes = diff_endpoints(old, new)
    assert (changes.added, changes.changed, changes.removed) == ((), ("ep-12",), ())
    assert changes.upserts == (new[12],)
    assert not diff_endpoints(old, list(old))


def test_equal_parts_of_endpoints_in_different_parts_are_one_instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_parts: None
) -> None:
    """Each part is pickled apart, so it arrives with its own copies of what endpoints share (labels, expect,
    alerts, tls, timeouts): the Unpacker makes them one instance again, in a reload's new parts too. (An
    `expect` with body checks is never shared: share.py.)"""
    path, unpacker, first = started(tmp_path, monkeypatch)
    assert parts(120) == 8
    fields = ("labels", "expect", "alerts", "tls", "timeout")

    def distinct(config: Config) -> dict[str, int]:
        plain = [ep for ep in config.endpoints if not ep.expect.body]
        return {field: len({id(getattr(ep, field)) for ep in plain}) for field in fields}

    assert distinct(first) == dict.fromkeys(fields, 1)
    second = unpacker.build(pack(edited(path, "${BASE}/7\n", "${BASE}/7?changed=1\n")))
    assert unpacker.reused == 7
    assert distinct(second) == dict.fromkeys(fields, 1)
    assert second.endpoints[7] is not first.endpoints[7]
    assert second.endpoints[7].labels is first.endpoints[1].labels


def test_the_unpacker_does_not_keep_the_header_dicts_of_old_reloads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_parts: None
) -> None:
    """Before, its Interner kept every header dict it had met (until share.KEPT, 65,536): a reload rotating each
    endpoint's token left one more per endpoint, the old secrets in them (benchmarks/README.md, session 15)."""
    path, unpacker = tmp_path / "c.yaml", Unpacker()
    for k in range(12):
        lines = [f"  - {{name: e{i}, kind: http, url: 'http://127.0.0.1:9/', headers: {{X-Token: e{i}-t{k}}}}}\n"
                 for i in range(40)]  # fmt: skip
        path.write_text(f"server: {{database: '{tmp_path / 'd.db'}'}}\nendpoints:\n" + "".join(lines))
        built = unpacker.build(pack(load(path)))
        assert built.endpoints[3].headers["X-Token"].get_secret_value() == f"e3-t{k}"
    tokens = {v.get_secret_value() for (field, items), _ in unpacker._shared.dicts.items() if field == "headers"
              for _, v in items}  # fmt: skip
    assert {t.rsplit("-", 1)[1] for t in tokens} <= {"t9", "t10", "t11"}, sorted(tokens)
    assert len(unpacker._shared.dicts) <= 3 * 40 + 1  # at most twice what the last pruning kept, + a reload's
