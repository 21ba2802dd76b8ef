"""The verdict of benchmarks/fleet_chaos.py (benchmarks/fleet_chaos_check.py) catches what it must and only that.

The chaos run itself takes ~9.5 minutes (benchmarks/README.md); this checks its judge on hand-made receiver
records against one small plan: a clean record passes, and each kind of violation is reported as one.
"""

from __future__ import annotations

import math

from benchmarks.fleet_chaos_check import Note, Plan, judge_alertmanager, judge_webhook

NO_AM_OUTAGE = (1000.0, 1000.0)  # no Alertmanager member was down


def plan() -> Plan:
    return Plan(
        down={"out": [(10.0, 40.0)], "flap": [(10.0, 30.0), (40.0, 60.0)], "dead": [(20.0, math.inf)], "up": []},
        kinds={"out": "outage", "flap": "flap", "dead": "dead", "up": "steady"},
        end=100.0,
    )


def clean() -> list[Note]:
    return [
        Note(14.0, "out", "firing"), Note(43.0, "out", "resolved"),
        Note(14.0, "flap", "firing"), Note(33.0, "flap", "resolved"),
        Note(44.0, "flap", "firing"), Note(63.0, "flap", "resolved"),
        Note(24.0, "dead", "firing"),
    ]  # fmt: skip


def test_a_clean_record_passes_at_both_receivers() -> None:
    v = judge_alertmanager(plan(), clean(), NO_AM_OUTAGE)
    assert (v.violations, v.documented) == ([], []), v
    assert v.counts == {"firing": 4, "resolved": 3, "outages": 4}
    hooks = [Note(n.t, n.endpoint, n.status, sender, f"{sender}{i}") for i, n in enumerate(clean()) for sender in "ab"]
    w = judge_webhook(plan(), hooks, [])
    assert (w.violations, w.documented) == ([], []), w


def test_each_kind_of_violation_is_reported() -> None:
    bad = [
        *clean(),
        Note(20.0, "up", "firing"),  # never down
        Note(30.0, "out", "resolved"),  # while down since 10 s
        Note(35.0, "out", "firing"),  # a second page of one outage
    ]
    v = judge_alertmanager(plan(), bad, NO_AM_OUTAGE)
    assert len(v.violations) == 3, v.violations
    assert any("up at 20.0s matches no outage" in x for x in v.violations)
    assert any("resolved out at 30.0s while down" in x for x in v.violations)
    assert any("2 firing" in x for x in v.violations)
    missing = [n for n in clean() if not (n.endpoint == "flap" and n.t == 63.0)]
    assert [x for x in judge_alertmanager(plan(), missing, NO_AM_OUTAGE).violations if "no resolved" in x]


def test_alertmanager_ha_duplicates_are_reported_apart_and_a_blind_shard_is_not_judged() -> None:
    twice = [*clean(), Note(14.5, "out", "firing")]  # both members within their peer wait
    v = judge_alertmanager(plan(), twice, NO_AM_OUTAGE)
    assert v.violations == [] and len(v.documented) == 1 and "HA race" in v.documented[0], v
    # every replica of the shard down from 29 s to 45 s: flap's up time (30-40 s) was never seen, its two outages
    # are one; nothing pages or resolves in between
    blind = plan()
    blind.blind = [(frozenset({"flap", "out"}), 29.0, 45.0)]
    seen = [n for n in clean() if not (n.endpoint == "flap" and n.t in (33.0, 44.0))]
    assert judge_alertmanager(blind, seen, NO_AM_OUTAGE).violations == []


def test_a_webhook_instance_paging_twice_or_never_resolving_is_a_violation() -> None:
    hooks = [Note(n.t, n.endpoint, n.status, "a", f"k{i}") for i, n in enumerate(clean())]
    twice = [*hooks, Note(20.0, "out", "firing", "a", "other")]
    assert any("2 firing" in x for x in judge_webhook(plan(), twice, []).violations)
    unresolved = [n for n in hooks if not (n.endpoint == "out" and n.status == "resolved")]
    assert any("never resolved" in x for x in judge_webhook(plan(), unresolved, []).violations)
    assert judge_webhook(plan(), unresolved, [("a", "out")]).violations == []  # handed over at the reshard
    handover = [*unresolved, Note(30.0, "out", "resolved", "a", "handed")]  # its RESOLVED at the handover, while down
    assert judge_webhook(plan(), handover, [("a", "out")]).violations == []
    assert any("while down" in x for x in judge_webhook(plan(), handover, []).violations)  # (not moved: a violation)
    again = [*hooks, Note(50.0, "out", "resolved", "a", "k1")]  # the same Idempotency-Key: the documented residual
    w = judge_webhook(plan(), again, [])
    assert w.violations == [] and len(w.documented) == 1, w
