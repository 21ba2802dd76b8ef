"""SLOs whose window can never hold enough units to judge their objective: they would read "collecting data"
for ever, and never page.

An SLO's burn-rate alerts and its budget wait for `display.units_needed(objective)` units in its window (probes,
or timeslices; 1,000 at 99.9 %, 10,000 at 99.99 %): below that one bad unit is more than the whole budget. A window
of 30 days over one endpoint probed every 5 minutes holds 8,640 probes, so an objective of 99.99 % on it is never
judged, even through three days of total outage. Nothing in the config is wrong as such, so this is a warning
(`slowatch check`, and the daemon's log at start and on reload), naming what would fix it.

Counted at the nominal window length (a calendar month is 30 days) and every enabled endpoint's configured
interval, final attempts only (retries add none); a composite is judged by its members. A location-quorum SLO
(`locations: {quorum: q}`) is judged by the generated rules in slices (1m, or its slowest endpoint's interval).

Likewise a burn tier whose factor the SLO's burn rate can never exceed (`unreachable_tier_warnings`: 14.4x at 90 %).
"""

from __future__ import annotations

from collections.abc import Sequence

from slowatch.alerting.policy import PolicyBook
from slowatch.config.schema import Config
from slowatch.durations import format_duration
from slowatch.slo.budget import error_budget
from slowatch.slo.definitions import SloDef, compile_config
from slowatch.slo.display import objective_percent, unit_word, units_needed


def units_per_window(config: Config, slo: SloDef, intervals: dict[str, float] | None = None) -> float:
    """How many units `slo`'s window holds at most (probes of its enabled endpoints, or timeslices)."""
    seconds = slo.window.nominal()
    if intervals is None:
        intervals = {ep.name: ep.interval for ep in config.endpoints if ep.enabled}
    probes = sum(seconds / intervals[name] for name in slo.endpoints if intervals.get(name))
    if slo.budgeting == "timeslices" and slo.slice_length:
        return min(seconds / slo.slice_length, probes)  # a slice counts when a probe fell in it
    return probes


def unjudgeable_warnings(config: Config, defs: Sequence[SloDef] | None = None) -> list[str]:
    """One warning per SLO whose window holds fewer units than its objective needs (see the module docstring),
    without the "warning: " that `slowatch check` puts before it."""
    intervals = {ep.name: ep.interval for ep in config.endpoints if ep.enabled}
    quorums = {(c.name, s.name) for c in config.consumers for s in c.slos if s.locations}
    out = []
    for slo in compile_config(config) if defs is None else defs:
        if slo.composite is not None:
            continue
        need = units_needed(slo.objective)
        if slo.key in quorums:
            out += _quorum_warning(config, slo, need)
            continue
        have = units_per_window(config, slo, intervals)
        if have >= need:
            continue
        unit = unit_word(slo.budgeting, need)
        window = format_duration(slo.window.nominal())
        if slo.budgeting == "timeslices":
            fix = "probe its endpoints at least once a timeslice, use shorter timeslices, or lower the objective"
        else:
            fix = "probe its endpoints more often, add endpoints, or lower the objective"
        out.append(
            f"SLO {slo.consumer}/{slo.name} ({objective_percent(slo.objective)} over {window}) can never "
            f"be judged: its window holds at most {int(have):,} {unit_word(slo.budgeting, int(have))} and "
            f"{objective_percent(slo.objective)} needs {need:,} {unit} before one bad one fits in its budget, so it "
            f"stays 'collecting data' and never pages: {fix}"
        )
    return out


def _quorum_warning(config: Config, slo: SloDef, need: int) -> list[str]:
    """A location-quorum SLO is the generated rules' (slowatch/generate/quorum.py): a timeslice SLI whose slice is 1m,
    or its slowest endpoint's interval, judged once its window holds `need` slices, whatever the probes."""
    slice_ = max([60.0, *(ep.interval for ep in config.endpoints if ep.name in slo.endpoints)])
    have = int(slo.window.nominal() // slice_)
    if have >= need:
        return []
    objective = objective_percent(slo.objective)
    return [
        f"SLO {slo.consumer}/{slo.name} ({objective} over {format_duration(slo.window.nominal())}) can never be "
        f"judged: its window holds at most {have:,} slices of {format_duration(slice_)} (location quorum) and "
        f"{objective} needs {need:,} slices before one failed one fits in its budget, so the generated rules never "
        "page for it: lengthen the window, probe its slowest endpoint more often, or lower the objective"
    ]


def unreachable_tier_warnings(config: Config, defs: Sequence[SloDef] | None = None) -> list[str]:
    """One warning per burn tier that can never fire: the burn rate is at most 1 / (1 - objective), every unit
    bad (10x at 90 %), so the Workbook's 14.4x page tier is out of reach at 93.05 % and below, and its 6x one at
    83.33 % and below. A total outage of a 90 % SLO then pages only through the 6h/30m tier, after 3.6 hours. Sloth
    and Pyrra generate such tiers silently too; slowatch and its generated rules keep them (harmless), and say so."""
    book = PolicyBook(config)
    out = []
    for slo in compile_config(config) if defs is None else defs:
        policy = book.get(slo.consumer, slo.name)
        if not policy.enabled:
            continue
        most = 1.0 / error_budget(slo.objective)  # the burn of an all-bad window, as slowatch computes it
        for tier in policy.tiers_for(slo.window.nominal()):
            if most > tier.factor:
                continue
            out.append(
                f"SLO {slo.consumer}/{slo.name} ({objective_percent(slo.objective)}): its {tier.severity} burn tier "
                f"{format_duration(tier.long)}/{format_duration(tier.short)} above {tier.factor:g}x can never fire, "
                f"since the burn rate is at most {most:g}x (every {unit_word(slo.budgeting, 1)} bad): give it "
                f"burn_tiers of its own under alerting.slos with factors below {most:g}x, or raise the objective"
            )
    return out


__all__ = ["units_per_window", "unjudgeable_warnings", "unreachable_tier_warnings"]
