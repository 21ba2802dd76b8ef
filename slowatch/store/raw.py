"""The one read path of raw results: packed blocks (`result_blocks`) and recent rows (`results`), merged.

Every reader of raw history goes through `raw_results` (the API's history, the SLO rebuild, the
benchmarks' probe counts): it decodes the blocks overlapping the range, adds the recent rows, filters
and orders them by time. Recent rows are those of `results` not packed yet (pack_marker.py). `results` has no
index by endpoint (v11): on the store's reader connection (a `ListedDatabase`) the rows of a few endpoints
are read by id, from the ids the writer listed for them (recent_ids.py: up to MOST_LISTED ids; at 100,000
endpoints every 60 s one endpoint's history ~0.3 s → ~11 ms, benchmarks/README.md session 10); otherwise
(all endpoints, many, or another connection) by a scan of the table (1.6-2.5 M rows there: ~0.2-0.3 s). The
SLO rebuild reads once per group of SLOs (`recent_rows` for their endpoints, shared by each SLO's
`oldest_raw` and `raw_results`: slo/rebuild.py). Rows are `RawRow` tuples: (id, *RESULT_COLUMNS),
with id None for packed rows; `phases` is as stored (phase_codec.py: the binary form, JSON text in packed
rows and in rows written before session 5; None for packed successful results: not kept, see blocks.py):
`phase_codec.decode` reads any of them.

Order: by ts; equal ts keep the order they were written in (within a block rows are in (ts, id)
order, blocks packed later hold later ids, and rows still in `results` were written after every
packed row of the same ts).
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from typing import Any

from sqlite_utils import Database

from slowatch.store.blocks import BLOCK, RawRow, decode
from slowatch.store.pack_marker import not_covered
from slowatch.store.recent_ids import ListedDatabase
from slowatch.store.schema import RESULT_COLUMNS

_FAR = 1e18
MOST_LISTED = 50_000
"""The most listed ids a read of `results` looks up one by one (recent_ids.py); beyond, it scans the table."""


def _where_endpoints(endpoints: Sequence[str] | None, column: str = "endpoint") -> tuple[str, dict[str, Any]]:
    if endpoints is None:
        return "", {}
    names = {f"e{i}": e for i, e in enumerate(endpoints)}
    return f" AND {column} IN ({', '.join(f':{k}' for k in names)})", names


def _from_results(
    db: Database, endpoints: Sequence[str] | None, columns: str, where: str, params: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """`SELECT columns FROM results WHERE where` (in id order) and its parameters: through the ids the writer
    listed for `endpoints` and two id ranges (recent_ids.py) where it has them, else a scan of the table."""
    listed = None
    if endpoints is not None and isinstance(db, ListedDatabase):
        listed = db.recent.lookup(endpoints, MOST_LISTED)
    if listed is None:
        return f"SELECT {columns} FROM results WHERE {where}", params
    floor, known, ids = listed
    parts = ("id < :r_floor", "id IN (SELECT value FROM json_each(:r_ids))", "id > :r_known")
    sql = " UNION ALL ".join(f"SELECT {columns} FROM results WHERE {part} AND {where}" for part in parts)
    return sql, {**params, "r_floor": floor, "r_known": known, "r_ids": json.dumps(ids)}


def _recent(db: Database, endpoints: Sequence[str] | None, lo: float, hi: float, final_only: bool) -> list[RawRow]:
    """Rows of `results` not packed yet (the last `retention.pack_after` + up to two blocks; pack_marker.py)."""
    where, params = _where_endpoints(endpoints)
    unpacked, marks = not_covered(db.conn)
    cond = f"ts >= :lo AND ts < :hi{where}{unpacked}" + (" AND final = 1" if final_only else "")
    columns = f"id, {', '.join(RESULT_COLUMNS)}"
    sql, bound = _from_results(db, endpoints, columns, cond, {**params, **marks, "lo": lo, "hi": hi})
    return db.conn.execute(sql, bound).fetchall()


def _blocks(db: Database, endpoints: Sequence[str] | None, lo: float, hi: float, newest_first: bool) -> Iterable[Any]:
    where, params = _where_endpoints(endpoints)
    order = "DESC" if newest_first else "ASC"
    sql = (
        "SELECT id, endpoint, start, data FROM result_blocks "
        f"WHERE start > :lo - {BLOCK} AND start < :hi AND end >= :lo{where} ORDER BY start {order}, id"
    )
    return db.conn.execute(sql, {**params, "lo": lo, "hi": hi})


def recent_rows(db: Database, endpoints: Sequence[str]) -> list[RawRow]:
    """Every row of `results` of `endpoints` not packed yet (one scan), for `raw_results` and `oldest_raw`
    to share: the SLO rebuild calls both, for each SLO of a group, in the group's one read."""
    return _recent(db, endpoints, -_FAR, _FAR, False)


def raw_results(
    db: Database, endpoints: Sequence[str] | None = None, since: float | None = None, until: float | None = None,
    *, final_only: bool = False, newest_first: bool = False, limit: int | None = None,
    recent: Sequence[RawRow] | None = None,
) -> list[RawRow]:  # fmt: skip
    """Raw results of `endpoints` (all if None) with since <= ts < until, oldest first (or newest first),
    only final attempts if `final_only`, at most `limit` (the newest ones when `newest_first`). `recent`:
    `recent_rows(db, endpoints)` read before in the same transaction (else `results` is scanned here)."""
    lo = -_FAR if since is None else since
    hi = _FAR if until is None else until
    if recent is None:
        recent = _recent(db, endpoints, lo, hi, final_only)
    else:
        recent = [row for row in recent if lo <= row[1] < hi and (row[9] or not final_only)]
    keyed: list[tuple[tuple[float, int, int, int], RawRow]] = [((row[1], 1, row[0], 0), row) for row in recent]
    recent_ts = sorted(row[1] for row in recent)
    group_start: int | None = None
    for block_id, endpoint, start, data in _blocks(db, endpoints, lo, hi, newest_first):
        if newest_first and limit is not None and start != group_start:
            # newest first, every block left starts before group_start: enough rows at or after it?
            if group_start is not None:
                newer = len(keyed) - bisect_left(recent_ts, group_start)
                if newer >= limit:
                    break
            group_start = start
        for pos, row in enumerate(decode(endpoint, start, data)):
            if lo <= row[1] < hi and (row[9] or not final_only):
                keyed.append(((row[1], 0, block_id, pos), row))
    keyed.sort(key=lambda kr: kr[0], reverse=newest_first)
    rows = [row for _, row in keyed]
    return rows if limit is None else rows[:limit]


def oldest_raw(db: Database, endpoints: Sequence[str], recent: Sequence[RawRow] | None = None) -> float | None:
    """A time from which on every raw result of `endpoints` is still kept: the oldest row of `results`
    or the earliest `end` of a block (retention deletes a block once all its rows have expired, so the
    oldest block may hold rows from before the retention cutoff, but never after its `end`). `recent`: as
    for `raw_results`."""
    if recent is None:
        where, params = _where_endpoints(endpoints)
        unpacked, covered = not_covered(db.conn)
        sql, bound = _from_results(db, endpoints, "ts", f"true{where}{unpacked}", {**params, **covered})
        recent_min = db.conn.execute(f"SELECT min(ts) FROM ({sql})", bound).fetchone()[0]
    else:
        recent_min = min((row[1] for row in recent), default=None)
    where, params = _where_endpoints(endpoints, "b.endpoint")
    packed = db.conn.execute(  # the earliest end is among each endpoint's blocks with the earliest start
        "SELECT min(b.end) FROM result_blocks AS b WHERE b.start = (SELECT min(start) FROM result_blocks AS m "
        f"WHERE m.endpoint = b.endpoint){where}",
        params,
    ).fetchone()[0]
    found = [float(t) for t in (recent_min, packed) if t is not None]
    return min(found) if found else None


__all__ = ["RawRow", "oldest_raw", "raw_results", "recent_rows"]
