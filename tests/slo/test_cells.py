"""Fine cells stored packed per hour (migration v4) restore exactly what row-by-row cells restored."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlite_utils import Database

from slowatch.slo.ledger import CoarseRow, FineRow, Ledger
from slowatch.slo.persist import HOUR, Batch, load_cells
from slowatch.slo.windows import window_of
from slowatch.store.schema import MIGRATIONS, migrate

NOW = 1_800_000_000 + 1234.0
ALERTS = (300.0, 3600.0, 86400.0)


def ledger(fine: int = 60, good_when: float | None = None) -> Ledger:
    return Ledger(fine, 3600, good_when, ALERTS, [window_of(7 * 86400.0), window_of(2 * 86400.0)], NOW)


def state(led: Ledger) -> tuple[object, ...]:
    arrays = (led.fg, led.ft, led.cg, led.ct, led.cx, led.csg, led.cst)
    return (*(a.tolist() for a in arrays), led.alert, led.sums)


fine_rows = st.lists(st.tuples(st.integers(-5000, 100), st.integers(0, 40), st.integers(0, 40)), max_size=60)
coarse_runs = st.tuples(st.integers(-200, 2), st.lists(st.tuples(*[st.integers(0, 50)] * 5), max_size=80))


def _fine(cells: list[tuple[int, int, int]], fine: int) -> list[FineRow]:
    out: dict[int, FineRow] = {}
    for offset, good, total in cells:
        start = (int(NOW) // fine + offset) * fine
        out[start] = (start, min(good, total), total)
    return sorted(out.values())


def _coarse(first: int, cells: list[tuple[int, ...]]) -> list[CoarseRow]:
    base = (int(NOW) // 3600 + first - len(cells)) * 3600
    return [(base + i * 3600, min(g, t), t, x, min(sg, st_), st_) for i, (g, t, x, sg, st_) in enumerate(cells)]


@settings(max_examples=150, deadline=None)
@given(
    fine=st.sampled_from([60, 300, 3600]),
    good_when=st.sampled_from([None, 0.9]),
    cells=fine_rows,
    live=fine_rows,
    run=coarse_runs,
)
def test_hour_blocks_and_runs_load_like_rows(
    fine: int, good_when: float | None, cells: list[tuple[int, int, int]], live: list[tuple[int, int, int]],
    run: tuple[int, list[tuple[int, ...]]],
) -> None:  # fmt: skip
    rows, coarse = _fine(cells, fine), _coarse(*run)
    source = ledger(fine, good_when)
    source.load(rows, [])
    hours = sorted({start - start % HOUR for start, _, _ in rows})
    blocks = [source.fine_block(h, HOUR // fine) for h in hours]
    # row by row (the old restore) vs hour blocks + a slice-wise coarse run, onto live cells or none
    for live_rows in ([], _fine(live, fine)):
        expected, restored = ledger(fine, good_when), ledger(fine, good_when)
        for led in (expected, restored):
            led.load(live_rows, [])
            led.dirty_f.clear()
        expected.load(rows, coarse, add=True)
        restored.add_fine_blocks(blocks)
        restored.load((), coarse, add=True)
        assert state(restored) == state(expected)
        ring = range(restored.cur_f - restored.nf + 1, restored.cur_f + 1)
        merged = {int(s // fine) for s, _, t in live_rows if t} & {int(s // fine) for s, _, _ in rows} & set(ring)
        assert merged <= restored.dirty_f


def test_batch_round_trip_and_migration_of_row_cells(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "v3.db", isolation_level=None)
    db = Database(conn)
    migrate(db, MIGRATIONS[:3])  # before the packed fine cells
    source = ledger()
    rows = _fine([(o, o % 7, 9) for o in range(-4400, 1) if o % 3], 60)
    source.load(rows, [])
    fp = "f" * 20
    conn.execute("BEGIN")  # one transaction: row by row in autocommit, 2,933 commits took up to 35 s under load
    conn.executemany(
        "INSERT INTO slo_cells (fingerprint, layer, res, start, good, total) VALUES (?, 'f', 60, ?, ?, ?)",
        [(fp, *row) for row in rows],
    )
    conn.execute("COMMIT")
    migrate(db)
    assert conn.execute("SELECT count(*) FROM slo_cells WHERE layer = 'f'").fetchone() == (0,)
    since = (source.cur_f - source.nf + 1) * 60
    blocks, _ = load_cells(db, fp, 60, 3600, since, 0)
    migrated = ledger()
    migrated.add_fine_blocks(blocks)
    migrated.recompute()
    assert state(migrated) == state(source)
    # saving writes whole hours from the ledger; loading them back gives the same ledger again
    conn.execute("DELETE FROM slo_fine")
    batch = Batch()
    source.dirty_f = {int(start // 60) for start, _, _ in rows}
    fine, _ = source.take_dirty()
    batch.add_fine(fp, source, fine)
    conn.execute("BEGIN")
    batch(db)
    conn.execute("COMMIT")
    blocks, _ = load_cells(db, fp, 60, 3600, since, 0)
    saved = ledger()
    saved.add_fine_blocks(blocks)
    saved.recompute()
    assert state(saved) == state(source)
