"""SLOs whose window can never hold enough units to judge their objective: they would read "collecting data"
for ever, and never page.

An SLO's burn-rate alerts and its budget wait for `display.units_needed(objective)` units in its window (probes,
or timeslices; 1,000 at 99.9 %, 10,000 at 99.99 %): below that one bad unit is more than the whole budget. A window
of 30 days over one endpoint probed every 5 minutes holds 8,640 probes, so an objective of 99.99 % on it is never
judged, even through three days of total outage. Nothing in the config is wrong as such, so this is a warning
(`slowatch check`, and the daemon's log at start and on reload), naming what would fix it.

Counted at the nominal window length (a calendar month is 30 days) and every enabled endpoint's configured
interval, final attempts only (retries add none); a composite is judged by its members.
"""

from __future__ import annotations

from collections.abc import Sequence

from slowatch.config.schema import Config
from slowatch.durations import format_duration
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
    out = []
    for slo in compile_config(config) if defs is None else defs:
        if slo.composite is not None:
            continue
        have, need = units_per_window(config, slo, intervals), units_needed(slo.objective)
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


__all__ = ["units_per_window", "unjudgeable_warnings"]
