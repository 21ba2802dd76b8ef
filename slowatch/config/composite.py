"""Semantic checks of composite (journey) SLOs: members exist, no cycles, compatible windows.

A member is `consumer/slo` or a bare SLO name of the composite's own consumer. Members must measure
in the same timeslice length (the composite is computed per slice), and their windows must cover
the composite's: all rolling with the composite's no longer than any member's, or all the same
calendar period in the same time zone.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from slowatch.config.consumers import CalendarWindow, Problem, SloConfig
from slowatch.config.messages import did_you_mean
from slowatch.durations import format_duration

if TYPE_CHECKING:
    from slowatch.config.schema import Config

Key = tuple[str, str]


def member_key(consumer: str, ref: str) -> Key:
    """(consumer, slo) of a member reference (`checkout/availability`, or `availability` in `consumer`)."""
    owner, _, name = ref.rpartition("/")
    return (owner or consumer, name)


def slice_seconds(slo: SloConfig, slos: dict[Key, SloConfig], consumer: str, seen: frozenset[Key] = frozenset()) -> int:
    """The timeslice length an SLO is measured in (60 s for occurrences; a composite's members' length)."""
    if slo.composite is None:
        slicing = slo.slicing
        return int(slicing.length) if slicing else 60
    for m in slo.composite.members:
        key = member_key(consumer, m.slo)
        if key in slos and key not in seen:
            return slice_seconds(slos[key], slos, key[0], seen | {key})
    return 60


def _window_words(slo: SloConfig) -> str:
    w = slo.window
    return f"calendar {w.calendar} ({w.timezone})" if isinstance(w, CalendarWindow) else format_duration(w)


def _window_problem(composite: SloConfig, member: SloConfig) -> str | None:
    cw, mw = composite.window, member.window
    if isinstance(cw, CalendarWindow) or isinstance(mw, CalendarWindow):
        if isinstance(cw, CalendarWindow) and isinstance(mw, CalendarWindow) and cw == mw:
            return None
    elif cw <= mw:
        return None
    return (
        f"window {_window_words(composite)} is incompatible with the member's {_window_words(member)}: a composite's "
        "rolling window must not be longer than its members', and calendar windows must be the same period and zone"
    )


def _cycle(start: Key, graph: dict[Key, list[Key]]) -> list[Key] | None:
    """A path start -> ... -> start through the composite graph, if there is one."""
    stack: list[tuple[Key, list[Key]]] = [(start, [start])]
    seen: set[Key] = set()
    while stack:
        node, path = stack.pop()
        for nxt in graph.get(node, ()):
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def check_composites(config: Config) -> Iterable[Problem]:
    slos = {(c.name, s.name): s for c in config.consumers for s in c.slos}
    names = [f"{c}/{s}" for c, s in slos]
    graph = {
        (c.name, s.name): [member_key(c.name, m.slo) for m in s.composite.members]
        for c in config.consumers
        for s in c.slos
        if s.composite is not None
    }
    for ci, consumer in enumerate(config.consumers):
        for si, slo in enumerate(consumer.slos):
            if slo.composite is None:
                continue
            base: tuple[str | int, ...] = ("consumers", ci, "slos", si, "composite")
            me = (consumer.name, slo.name)
            seen: set[Key] = set()
            lengths: dict[int, str] = {}
            for mi, m in enumerate(slo.composite.members):
                path = (*base, "members", mi, "slo")
                key = member_key(consumer.name, m.slo)
                ref = f"{key[0]}/{key[1]}"
                if key not in slos:
                    yield path, f"unknown SLO {ref!r}{did_you_mean(ref, names)}"
                    continue
                if key == me:
                    yield path, f"a composite SLO cannot contain itself ({ref!r})"
                    continue
                if key in seen:
                    yield path, f"{ref!r} is listed twice"
                seen.add(key)
                member = slos[key]
                problem = _window_problem(slo, member)
                if problem:
                    yield path, f"{ref!r}: {problem}"
                lengths.setdefault(slice_seconds(member, slos, key[0], frozenset({me})), ref)
            if len(lengths) > 1:
                parts = ", ".join(f"{format_duration(n)} ({ref})" for n, ref in sorted(lengths.items()))
                yield (*base, "members"), f"members are measured in different timeslices: {parts}; use one length"
            cycle = _cycle(me, graph)
            if cycle is not None:
                yield (*base, "members"), "composite SLOs form a cycle: " + " -> ".join(f"{c}/{s}" for c, s in cycle)


__all__ = ["check_composites", "member_key", "slice_seconds"]
