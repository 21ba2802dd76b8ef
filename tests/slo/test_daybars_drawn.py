"""The consumer page's endpoint bars: only the drawn endpoints' bars are built, the others only counted
(slo/daybars.py `missed_days`, `drawn_endpoint_days`), and the page says the same as when all were built."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from html import escape
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlite_utils import Database

from slowatch.slo.daybars import DAY, DayBar, drawn_endpoint_days, endpoint_days, missed_days
from slowatch.store.schema import migrate
from slowatch.web.charts import day_bars_svg, legend

NOW = 1_790_000_000.0 + 4000.0
DAYS = 6
TODAY = int(NOW // DAY) * DAY


def before_section(all_bars: Sequence[tuple[str, Sequence[DayBar]]], limit: int) -> tuple[list[str], str]:
    """The drawn names and the page's section, as it was made from every endpoint's bars before session 10
    (web/consumer_html.py `endpoints_section` then)."""

    def missed(bars: Sequence[DayBar]) -> tuple[int, int]:
        return sum(b.state == "bad" for b in bars), sum(b.state == "degraded" for b in bars)

    shown = list(all_bars)
    note = ""
    if len(shown) > limit:
        ranked = sorted(range(len(shown)), key=lambda i: tuple(-n for n in missed(shown[i][1])))
        rest = [shown[i] for i in ranked[limit:]]
        shown = [shown[i] for i in sorted(ranked[:limit])]
        n = sum(sum(missed(bars)) for _, bars in rest)
        together = f"which together missed the objective on {n:,} endpoint-day{'s' if n != 1 else ''}"
        note = (
            f"<div class='small muted'>{len(rest):,} more endpoint{'s' if len(rest) != 1 else ''} not drawn, "
            f"{together if n else 'none of which missed the objective on any day'}; the {limit} drawn are "
            "those with the most missed days.</div>"
        )
    rows = "".join(
        f"<div class='endpoint'><div>{escape(name)}</div>{day_bars_svg(bars, f'{name}: one bar per UTC day')}</div>"
        for name, bars in shown
    )
    days = len(all_bars[0][1]) if all_bars else 0
    return [name for name, _ in shown], (
        f"<h2>Endpoints it depends on</h2><div class='card'><div class='small muted'>last {days} days, "
        f"availability per UTC day against the strictest objective that covers the endpoint</div>{rows}{note}"
        f"<div style='margin-top:.5rem'>{legend()}</div></div>"
    )


_day = st.tuples(
    st.integers(0, DAYS + 1),  # day back from today (beyond DAYS - 1: outside the bars)
    st.lists(st.tuples(st.integers(0, 23), st.integers(0, 70), st.integers(0, 70)), max_size=5),  # hours
    st.one_of(st.none(), st.tuples(st.integers(0, 3000), st.integers(0, 3000))),  # a daily row
)
_endpoint = st.tuples(st.lists(_day, max_size=6), st.sampled_from([0.5, 0.9, 0.99, 0.999, 0.9999]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(endpoints=st.lists(_endpoint, min_size=1, max_size=12), draw=st.integers(1, 13))
def test_the_drawn_bars_and_the_note_are_those_of_all_bars_ranked(
    tmp_path: Path, endpoints: list[tuple[list[tuple[int, list[tuple[int, int, int]], tuple[int, int] | None]], float]],
    draw: int,
) -> None:  # fmt: skip
    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrate(Database(conn))
    names = [f"e{i:02d}" for i in range(len(endpoints))]
    objective = {}
    for name, (days, goal) in zip(names, endpoints, strict=True):
        objective[name] = goal
        for back, hours, daily in days:
            day = TODAY - back * DAY
            for hour, a, b in hours:  # (the same hour twice: the last one stays)
                total, good = max(a, b), min(a, b)
                conn.execute("INSERT OR REPLACE INTO rollups (endpoint, hour, total, good, latency_us) "
                             "VALUES (?, ?, ?, ?, 0)", (name, day + hour * 3600, total, good))  # fmt: skip
            if daily is not None:
                total, good = max(daily), min(daily)
                conn.execute("INSERT OR REPLACE INTO rollups_daily (endpoint, day, total, good, latency_us) "
                             "VALUES (?, ?, ?, ?, 0)", (name, day, total, good))  # fmt: skip
    spans = [(TODAY - 2 * DAY + 600.0, TODAY - 2 * DAY + 4000.0, "deploy")]
    everything = [(ep, endpoint_days(conn, ep, objective[ep], NOW, DAYS, spans)) for ep in names]
    counts = missed_days(conn, names, objective, NOW, DAYS)
    assert counts == {
        ep: (sum(b.state == "bad" for b in bars), sum(b.state == "degraded" for b in bars)) for ep, bars in everything
    }
    drawn, (left, missed) = drawn_endpoint_days(conn, names, objective, NOW, DAYS, dict.fromkeys(names, spans), draw)
    want_names, _ = before_section(everything, draw)
    assert [ep for ep, _ in drawn] == want_names
    assert drawn == [(ep, bars) for ep, bars in everything if ep in want_names]  # the same bars, maintenance too
    assert left == max(0, len(names) - draw)
    assert missed == sum(sum(counts[ep]) for ep in names if ep not in want_names)
