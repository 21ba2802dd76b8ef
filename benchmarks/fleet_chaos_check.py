"""The failure script of benchmarks/fleet_chaos.py and the verdict on what its receivers got (pure: no I/O).

The script: 31 endpoints (e30 appears with the mid-run reload) on one aiohttp target whose answers follow a
seeded plan, in seconds since the plan's start:
  e00-e09 outage   down 120 s once, starts staggered 40 s apart from 30 s
  e10-e17 flap     down 20 s / up 25 s, random phase, from 20 s to the end of the script
  e18-e20 dead     down for good from 40-60 s on
  e21-e23 blip     down 0.7 s every 30 s: at most one failed probe at 1 s, below failure_threshold 3
  e24-e30 steady   never down

The verdict (what "exactly once" means, per receiver):
  Alertmanager (group_by all labels, group_wait 1s, group_interval 5s, repeat_interval 4h, send_resolved):
    each alert is its own group; while it stays firing Alertmanager notifies it once (a repeat only after 4h),
    and once it resolves, one resolved at the next group_interval flush. So per endpoint and outage longer
    than the alert's `for` (failure_threshold x interval): exactly one firing notification between the
    outage's start and its end + LATE, exactly one resolved after its end (none for a dead endpoint); nothing
    for an endpoint that was never down for `for`; no resolved while the endpoint has been down for more than
    DOWN_GRACE. A second firing of one outage while an Alertmanager member was down or rejoining is
    Alertmanager's documented HA behaviour (members dedup by a gossiped notification log; a member killed
    with -9 loses the log it has not snapshotted) and is reported apart, not as ours.
  Direct webhook (every instance sends its own: README "Direct slack or webhook sinks from several replicas
    would send every alert several times"): per instance, at most one firing event per outage (a resent event
    with the same Idempotency-Key is the documented at-least-once residual, reported apart), a resolved
    after every firing unless the instance no longer owns the endpoint (handed over at the reshard), no resolved
    while down, no firing for an endpoint never down; and every qualifying outage reaches it at least once.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

LATE = 75.0
"""How late a notification may come: an outage starting while both replicas of its shard are down (25 s), a
restart's readiness, the storm group_interval of the webhook (30 s) and Alertmanager's group_interval."""
DOWN_GRACE = 8.0
"""A resolved at a moment the endpoint has been down for longer than this is a resolved while still down."""
FOR = 3.0
"""failure_threshold 3 at interval 1s; an outage is judged when it lasts at least FOR + 3 s."""
QUALIFY = FOR + 3.0
SEEN_UP = 3.0
"""success_threshold 2 at 1 s, plus a probe: a recovery seen up for less than this may not resolve."""


@dataclass
class Plan:
    down: dict[str, list[tuple[float, float]]]
    kinds: dict[str, str]
    end: float
    blind: list[tuple[frozenset[str], float, float]] = field(default_factory=list)
    """(endpoints, from, to): every replica of their shard down (the driver fills it in)."""

    def is_down(self, name: str, t: float) -> bool:
        return any(s <= t < e for s, e in self.down.get(name, ()))

    def seen(self, name: str) -> list[tuple[float, float]]:
        """The outages as the fleet could see them: two outages whose gap (up) fell while every replica of the
        endpoint's shard was down, but for less than SEEN_UP, are one (no one probed it up success_threshold
        times, so the alert rightly stayed firing)."""
        out: list[tuple[float, float]] = []
        for s, e in self.down.get(name, ()):
            gap = out[-1][1] if out else 0.0
            if out and any(name in names and max(0, a - gap) + max(0, s - b) < SEEN_UP for names, a, b in self.blind):
                out[-1] = (out[-1][0], e)
            else:
                out.append((s, e))
        return out

    def down_since(self, name: str, t: float) -> float | None:
        for s, e in self.seen(name):
            if s <= t < e:
                return s
        return None


def make_plan(seed: int, end: float) -> Plan:
    rng = random.Random(seed)
    down: dict[str, list[tuple[float, float]]] = {}
    kinds: dict[str, str] = {}
    for i in range(31):
        name = f"e{i:02d}"
        if i < 10:
            kind, spans = "outage", [(30.0 + 40 * i, 150.0 + 40 * i)]
        elif i < 18:
            kind, spans, t = "flap", [], 20.0 + rng.uniform(0, 40)
            while t + 20 < end:
                spans.append((t, t + 20.0))
                t += 45.0
        elif i < 21:
            kind, spans = "dead", [(40.0 + 10 * (i - 18), math.inf)]
        elif i < 24:
            kind, spans = "blip", [(t, t + 0.7) for t in range(15 + 3 * (i - 21), int(end), 30)]
        else:
            kind, spans = "steady", []
        down[name], kinds[name] = spans, kind
    return Plan(down, kinds, end)


@dataclass(frozen=True, slots=True)
class Note:
    """One notification as a receiver got it, in plan seconds."""

    t: float
    endpoint: str
    status: str  # firing | resolved
    sender: str = ""  # the webhook's instance; "" for Alertmanager
    key: str = ""  # Idempotency-Key / event id


@dataclass
class Verdict:
    violations: list[str] = field(default_factory=list)
    documented: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1


def _outage_of(plan: Plan, name: str, t: float) -> int | None:
    """The qualifying outage a firing at `t` belongs to: the latest one started by `t` and ended at most LATE ago."""
    best = None
    for k, (s, e) in enumerate(plan.seen(name)):
        if e - s >= QUALIFY and s <= t <= e + LATE:
            best = k
    return best


def _resolved_while_down(plan: Plan, n: Note) -> bool:
    since = plan.down_since(n.endpoint, n.t)
    return since is not None and n.t - since > DOWN_GRACE


def blinded(plan: Plan, name: str, span: tuple[float, float]) -> bool:
    """Whether every replica of the endpoint's shard was down for all but less than QUALIFY of the outage: no one
    probed it (README: "if every replica of a shard is down, SlowatchEndpointDown cannot fire")."""
    s, e = span
    return any(name in names and a <= s + QUALIFY and e - b < QUALIFY + 2 and e > a for names, a, b in plan.blind)


def judge_alertmanager(plan: Plan, notes: Sequence[Note], am_outage: tuple[float, float]) -> Verdict:
    v = Verdict()
    per: dict[tuple[str, int], list[Note]] = defaultdict(list)
    for n in sorted(notes, key=lambda n: n.t):
        v.count(n.status)
        if n.status == "resolved" and _resolved_while_down(plan, n):
            v.violations.append(
                f"am: resolved {n.endpoint} at {n.t:.1f}s while down since {plan.down_since(n.endpoint, n.t)}"
            )
            continue
        k = _outage_of(plan, n.endpoint, n.t) if n.status == "firing" else _ended_outage(plan, n.endpoint, n.t)
        if k is None:
            v.violations.append(f"am: {n.status} {n.endpoint} at {n.t:.1f}s matches no outage longer than for")
            continue
        per[(n.endpoint, k)].append(n)
    for name in plan.down:
        for k, (s, e) in enumerate(plan.seen(name)):
            if e - s < QUALIFY or s > plan.end:
                continue
            v.count("outages")
            got = per.get((name, k), [])
            if blinded(plan, name, (s, e)):
                v.documented.append(f"am: {name} outage {s:.0f}-{e:.0f}s while its shard had no replica: {got}")
                continue
            firing = [n for n in got if n.status == "firing"]
            resolved = [n for n in got if n.status == "resolved"]
            want_resolved = 0 if math.isinf(e) else 1
            what = f"{name} outage {s:.0f}-{e:.0f}s"
            if not firing:
                v.violations.append(f"am: {what}: no firing notification")
            for state, got_, want in (("firing", firing, 1), ("resolved", resolved, want_resolved)):
                if len(got_) == want or not got_:
                    if len(got_) != want and state == "resolved":
                        v.violations.append(f"am: {what}: no resolved notification")
                    continue
                line = f"am: {what}: {len(got_)} {state} (want {want}) at {[f'{n.t:.1f}' for n in got_]}s"
                why = _am_race(got_[1:] if len(got_) > want else got_, got_, am_outage)
                (v.documented if why else v.violations).append(f"{line}{why}")
    return v


STORM_LATE = 45.0
"""A storm-mode RESOLVED may wait a group_interval (30 s) plus a kill -9 and restart of its sender."""
AM_RACE = 2.0
"""Two members notifying one state within this of each other: their flushes fell within `peer_timeout` (1 s) plus
gossip of each other, so neither found the other's entry in the notification log (Alertmanager HA delivers at least
once: each member's aggregation groups keep their own timers, which drift apart once a member restarts)."""


def _am_race(extra: Sequence[Note], got: Sequence[Note], am_outage: tuple[float, float]) -> str:
    """Why the notifications `extra` (of `got`) are Alertmanager's documented HA behaviour, or "" if not."""
    a, b = am_outage
    if all(a <= n.t <= b + 30 for n in extra):
        return " (while a member was down or rejoining)"
    if all(any(m is not n and abs(m.t - n.t) <= AM_RACE for m in got) for n in extra):
        return f" (members' flushes within {AM_RACE:g}s: HA race)"
    return ""


def _ended_outage(plan: Plan, name: str, t: float) -> int | None:
    """The qualifying outage a resolved at `t` closes: the latest one ended by `t` (DOWN_GRACE early at most)."""
    best = None
    for k, (s, e) in enumerate(plan.seen(name)):
        if e - s >= QUALIFY and e - DOWN_GRACE <= t and s <= t:
            best = k
    return best


def judge_webhook(
    plan: Plan, notes: Sequence[Note], moved: Iterable[tuple[str, str]], *, storm: bool = False
) -> Verdict:
    """`moved`: (instance, endpoint) pairs whose endpoint the instance stopped owning at the reshard. `storm`: storm
    control was on (its default threshold, 10 a minute): a sink in storm mode sends every `group_interval` (30 s) each
    alert's latest state only (README "Storm control", "After a sink's outage"), so a flap's RESOLVED superseded by
    the next FIRING never goes, and a RESOLVED may arrive after the next outage began: reported apart."""
    v = Verdict()
    folded = v.documented if storm else v.violations
    handed = set(moved)
    seen_keys: dict[tuple[str, str], int] = defaultdict(int)
    per: dict[tuple[str, str, int], list[Note]] = defaultdict(list)
    reached: set[tuple[str, int]] = set()
    for n in sorted(notes, key=lambda n: n.t):
        v.count(n.status)
        seen_keys[(n.sender, n.key)] += 1
        if seen_keys[(n.sender, n.key)] > 1:
            v.documented.append(f"hook: {n.sender} sent {n.key} again at {n.t:.1f}s (same Idempotency-Key)")
            continue
        if n.status == "resolved" and _resolved_while_down(plan, n) and (n.sender, n.endpoint) in handed:
            # the old owner's RESOLVED of an alert handed over at the reshard (README "Resharding"): it ends its own
            # messages of the outage; the new owner pages it again from its own start
            if (k := _outage_of(plan, n.endpoint, n.t)) is not None:
                per[(n.sender, n.endpoint, k)].append(n)
                reached.add((n.endpoint, k))
            continue
        if n.status == "resolved" and _resolved_while_down(plan, n):
            late = storm and _ended_outage(plan, n.endpoint, n.t - STORM_LATE) is not None
            (folded if late else v.violations).append(
                f"hook: {n.sender} resolved {n.endpoint} at {n.t:.1f}s while down"
            )
            continue
        k = _outage_of(plan, n.endpoint, n.t) if n.status == "firing" else _ended_outage(plan, n.endpoint, n.t)
        if k is None:
            v.violations.append(f"hook: {n.sender} {n.status} {n.endpoint} at {n.t:.1f}s matches no outage")
            continue
        per[(n.sender, n.endpoint, k)].append(n)
        reached.add((n.endpoint, k))
    for (sender, name, k), got in sorted(per.items()):
        s, e = plan.seen(name)[k]
        firing = sum(n.status == "firing" for n in got)
        resolved = sum(n.status == "resolved" for n in got)
        what = f"{name} outage {s:.0f}-{e:.0f}s from {sender}"
        if firing > 1 or resolved > 1:
            v.violations.append(f"hook: {what}: {firing} firing, {resolved} resolved")
        if firing and not resolved and not math.isinf(e) and (sender, name) not in handed:
            folded.append(f"hook: {what}: firing never resolved")
    for name in plan.down:
        for k, (s, e) in enumerate(plan.seen(name)):
            if e - s >= QUALIFY and s <= plan.end and (name, k) not in reached and not blinded(plan, name, (s, e)):
                v.violations.append(f"hook: {name} outage {s:.0f}-{e:.0f}s reached no instance")
    return v


__all__ = ["DOWN_GRACE", "FOR", "LATE", "Note", "Plan", "Verdict", "judge_alertmanager", "judge_webhook", "make_plan"]
