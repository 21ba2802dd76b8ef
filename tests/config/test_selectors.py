"""The label index resolves references exactly like a pass over every endpoint (`LabelSelector.matches`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from hypothesis import given, settings
from hypothesis import strategies as st

from slowatch.config.consumers import EndpointIndex, EndpointRef, LabelSelector, check_refs, resolve_endpoints
from slowatch.config.messages import did_you_mean

if TYPE_CHECKING:
    from slowatch.config.endpoints import EndpointBase


@dataclass(frozen=True)
class Ep:
    name: str
    labels: dict[str, str] = field(default_factory=dict)


def naive_resolve(refs: Sequence[EndpointRef], endpoints: Sequence[Any]) -> list[str]:
    """The resolution before the index: names looked up, every selector tried on every endpoint."""
    known = {ep.name for ep in endpoints}
    out: dict[str, None] = {}
    for ref in refs:
        if isinstance(ref, str):
            if ref in known:
                out[ref] = None
        else:
            out.update((ep.name, None) for ep in endpoints if ref.matches(ep))
    return list(out)


def naive_problems(refs: Sequence[EndpointRef], endpoints: Sequence[Any]) -> list[tuple[Any, str]]:
    known = {ep.name for ep in endpoints}
    out: list[tuple[Any, str]] = []
    for i, ref in enumerate(refs):
        if isinstance(ref, str):
            if ref not in known:
                hint = did_you_mean(ref, [ep.name for ep in endpoints])
                out.append((("refs", i), f"unknown endpoint {ref!r}{hint}"))
        elif not any(ref.matches(ep) for ep in endpoints):
            out.append((("refs", i), f"label selector {ref.labels} matches no endpoint"))
    return out


names = st.sampled_from([f"ep-{i}" for i in range(12)])
labels = st.dictionaries(st.sampled_from(["team", "tier", "env"]), st.sampled_from(["a", "b", "c"]), max_size=3)
endpoints = st.lists(st.builds(Ep, names, labels), max_size=15)  # duplicate names included
selectors = st.builds(LabelSelector, labels=labels.filter(bool))
refs = st.lists(st.one_of(names, selectors), max_size=6)


@settings(max_examples=300, deadline=None)
@given(endpoints=endpoints, refs=refs)
def test_index_resolves_like_the_naive_loop(endpoints: list[Ep], refs: list[EndpointRef]) -> None:
    eps = cast("list[EndpointBase]", endpoints)
    index = EndpointIndex(eps)
    assert index.resolve(refs) == naive_resolve(refs, endpoints)
    assert resolve_endpoints(refs, eps) == naive_resolve(refs, endpoints)
    assert list(check_refs(refs, index, ("refs",))) == naive_problems(refs, endpoints)
    for ref in refs:
        if isinstance(ref, LabelSelector):
            assert index.select(ref) == [ep.name for ep in endpoints if ref.matches(cast("EndpointBase", ep))]


def test_selector_order_follows_the_config() -> None:
    eps = cast("list[EndpointBase]", [Ep("z", {"t": "1"}), Ep("a", {"t": "1", "u": "2"}), Ep("m", {"u": "2"})])
    index = EndpointIndex(eps)
    assert index.resolve([LabelSelector(labels={"u": "2"}), "z", LabelSelector(labels={"t": "1"})]) == ["a", "m", "z"]
    assert index.select(LabelSelector(labels={"t": "1", "u": "2"})) == ["a"]
    assert index.select(LabelSelector(labels={"t": "2"})) == []
