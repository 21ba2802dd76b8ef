"""The pack pass's read-back and encode, priced three ways on the same rows (issue #16, session 14).

  .venv/bin/python benchmarks/pack_readback.py [--endpoints 100000] [--rate 1667] [--minutes 10] [--repeat 2]

Writes `--minutes` of results (the store_writer.py shapes: http, 4 % failures with a message and binary
phases, a final URL per endpoint) into `results` of a fresh database made by the store's own migrations,
then turns every row into blocks, alternately, each way checked to give the very blobs of the first:

  today         pack.py's SELECT (SQLite sorts whole rows), groupby, blocks.encode per (endpoint, block)
  sql-groups    SQLite does the per-row work: one row per (endpoint, block) with the fixed columns as
                group_concat(printf(...)) hex records and the side values hex-encoded; Python per block only
  sql-records   the sorted rows with the fixed columns as one printf(...) hex record each (fewer objects per
                row), grouped in Python

and, apart: today's SELECT alone (sort + fetch), and the deflate of today's bodies alone (blocks._deflate).
CPU (process_time) per row, the lower of `--repeat` rounds. No store code is changed by any of these: it
prices the candidates before one is built (benchmarks/README.md, "session 14").
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sqlite3
import sys
import tempfile
import time
import zlib
from array import array
from collections.abc import Callable
from itertools import compress, groupby
from operator import sub
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from slowatch.phases import Phases
from slowatch.store import pack
from slowatch.store.block_columns import side_json
from slowatch.store.blocks import _COUNT, BLOCK, OUTCOME_CODES, _deflate, encode
from slowatch.store.pack_marker import DUE
from slowatch.store.phase_codec import as_json
from slowatch.store.phase_codec import encode as encode_phases
from slowatch.store.schema import RESULT_COLUMNS, migrate

T0 = 1_767_225_600.0 + 1800
Blocks = list[tuple[Any, ...]]


def fill(path: str, args: argparse.Namespace) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(Database(conn))
    rng = random.Random(7)
    rows = []
    for k in range(int(args.rate * args.minutes * 60)):
        i = rng.randrange(args.endpoints)
        ok = rng.random() > 0.04
        d = rng.uniform(0.0005, 0.4)
        phases = encode_phases(Phases.of({"connect": d / 4, "processing": d / 2, "transfer": d / 8}))
        rows.append((T0 + k / args.rate, f"ep-{i:06d}", "http", "success" if ok else "http_status", d,
                     200 if ok else 500, "" if ok else "expected status 200, got 500", 1, 1, phases, None,
                     f"http://127.0.0.1:3300{i % 8}/fast/{i}"))  # fmt: skip
    conn.execute("BEGIN")
    conn.executemany(f"INSERT INTO results ({', '.join(RESULT_COLUMNS)}) VALUES ({', '.join('?' * 12)})", rows)
    conn.execute("COMMIT")
    conn.close()


def today(conn: sqlite3.Connection, p: dict[str, Any]) -> Blocks:
    out = []
    for (endpoint, number), grouped in groupby(conn.execute(pack._SELECT, p).fetchall(), pack._group):
        group = list(grouped)
        start = int(number) * BLOCK
        out.append((endpoint, start, *encode(start, group), len(group)))
    return out


_CODES = " ".join(f"WHEN '{c}' THEN {i}" for i, c in enumerate(OUTCOME_CODES))
_BLK = "(CAST(ts / 600 AS INTEGER) - (CAST(ts / 600 AS INTEGER) * 600 > ts))"
_ROWS = f"""SELECT id, ts, endpoint, kind, outcome, duration, status_code, message, attempt, final, phases,
  cert_expiry, final_url, {_BLK} * 600 AS start, CASE outcome {_CODES} END AS code, duration * 1e6 AS x,
  CAST(duration * 1e6 AS INTEGER) AS t FROM results WHERE {DUE}"""
_OK = """typeof(ts) = 'real' AND typeof(duration) IN ('real', 'integer') AND x >= 0 AND x < 4294967294.0
  AND code IS NOT NULL AND (status_code IS NULL OR (typeof(status_code) = 'integer' AND status_code > 0
  AND status_code < 65535)) AND typeof(attempt) = 'integer' AND attempt >= 0 AND attempt < 255
  AND typeof(final) = 'integer' AND typeof(message) = 'text' AND typeof(phases) IN ('blob', 'null')
  AND start + 600 >= :nlo AND start + 600 < :nhi"""
_R = "(t + (x - t > 0.5) + (x - t = 0.5 AND t % 2 = 1))"  # Python's round(): half to even
_US = f"{_R} + ({_R} / 1e6 < duration)"  # block_columns.micros
_MS = "CAST((ts - start) * 1000.0 + :nudge AS INTEGER)"  # blocks._FLOOR
_GROUPS = f"""SELECT endpoint, start, count(*), max(ts),
  min({_OK}) AND min(kind) = max(kind) AND typeof(min(kind)) = 'text'
   AND (count(cert_expiry) = 0 OR (count(cert_expiry) = count(*) AND min(cert_expiry) = max(cert_expiry)))
   AND (count(final_url) = 0 OR (count(final_url) = count(*) AND min(final_url) = max(final_url)
   AND typeof(min(final_url)) = 'text')),
  group_concat(printf('%08x', {_MS}), ''),
  group_concat(printf('%08x%02x%04x%02x%02x%02x', {_US}, code, coalesce(status_code, 0), attempt, final != 0,
    (message != '') + 2 * (outcome != 'success' AND phases IS NOT NULL)), ''),
  group_concat(hex(message), ',') FILTER (WHERE message != ''),
  group_concat(hex(phases), ',') FILTER (WHERE outcome != 'success' AND phases IS NOT NULL),
  min(kind), min(cert_expiry), min(final_url), json_group_array(id)
  FROM ({_ROWS} ORDER BY endpoint, start, ts, id) GROUP BY endpoint, start"""
_RECORDS = f"""SELECT id, ts, endpoint, start, iif({_OK}, printf('%08x%08x%02x%04x%02x%02x', {_MS}, {_US}, code,
  coalesce(status_code, 0), attempt, final != 0), NULL), kind, cert_expiry, final_url, nullif(message, ''),
  iif(outcome != 'success', hex(phases), NULL) FROM ({_ROWS}) ORDER BY endpoint, ts, id"""
_BY_IDS = pack._SELECT.replace(DUE, "id IN (SELECT value FROM json_each(:ids))")


def _nudge(p: dict[str, Any]) -> dict[str, Any]:
    e = math.frexp(p["p_cutoff"])[1] - 1  # the blocks' binade: ulp(start + BLOCK), as blocks.encode takes it
    return {**p, "nudge": math.ulp(2.0**e) * 900, "nlo": 2.0**e, "nhi": 2.0 ** (e + 1)}


def _ms_deltas(be: bytes) -> bytes:
    ms = array("I", be)
    if sys.byteorder == "little":
        ms.byteswap()
    return array("I", map(sub, ms, [0, *ms])).tobytes()


def sql_groups(conn: sqlite3.Connection, p: dict[str, Any]) -> Blocks:
    out = []
    fromhex = bytes.fromhex
    for ep, start, n, last, ok, ms, rec, msgs, phs, kind, cert, url, ids in conn.execute(_GROUPS, _nudge(p)):
        if not ok:
            last, blob = encode(start, conn.execute(_BY_IDS, {"ids": ids}).fetchall())
            out.append((ep, start, last, blob, n))
            continue
        t, raw = _ms_deltas(fromhex(ms)), fromhex(rec)
        fixed = b"".join((t[0::4], t[1::4], t[2::4], t[3::4], raw[3::10], raw[2::10], raw[1::10], raw[0::10],
                          raw[4::10], raw[6::10], raw[5::10], raw[7::10], raw[8::10]))  # fmt: skip
        side: dict[str, list[list[Any]]] = {}
        flags = raw[9::10]
        if msgs is not None:
            side["m"] = [[i, fromhex(m).decode()] for i, m in zip(compress(range(n), (f & 1 for f in flags)),
                                                                       msgs.split(","), strict=True)]  # fmt: skip
        if phs is not None:
            side["p"] = [[i, as_json(fromhex(h))] for i, h in zip(compress(range(n), (f & 2 for f in flags)),
                                                                      phs.split(","), strict=True)]  # fmt: skip
        body = b"".join((_COUNT.pack(n), fixed, side_json(side, ([kind] * n, [cert] * n, [url] * n))))
        out.append((ep, start, last, _deflate(body), n))
    return out


def sql_records(conn: sqlite3.Connection, p: dict[str, Any]) -> Blocks:
    out = []
    fromhex = bytes.fromhex
    for (ep, start), grouped in groupby(conn.execute(_RECORDS, _nudge(p)).fetchall(), lambda r: (r[2], r[3])):
        ids, tss, _, _, recs, kinds, certs, urls, msgs, phs = zip(*grouped, strict=True)
        n = len(ids)
        if None in recs:
            last, blob = encode(start, conn.execute(_BY_IDS, {"ids": f"[{','.join(map(str, ids))}]"}).fetchall())
            out.append((ep, start, last, blob, n))
            continue
        raw = fromhex("".join(recs))
        t = _ms_deltas(b"".join([raw[i : i + 4] for i in range(0, len(raw), 13)]))
        fixed = b"".join((t[0::4], t[1::4], t[2::4], t[3::4], raw[7::13], raw[6::13], raw[5::13], raw[4::13],
                          raw[8::13], raw[10::13], raw[9::13], raw[11::13], raw[12::13]))  # fmt: skip
        side: dict[str, list[list[Any]]] = {}
        if msgs.count(None) != n:
            side["m"] = [[i, m] for i, m in enumerate(msgs) if m is not None]
        if phs.count(None) != n:
            side["p"] = [[i, as_json(fromhex(h))] for i, h in enumerate(phs) if h is not None]
        body = b"".join((_COUNT.pack(n), fixed, side_json(side, (kinds, certs, urls))))
        out.append((ep, start, max(tss), _deflate(body), n))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoints", type=int, default=100_000)
    ap.add_argument("--rate", type=int, default=1_667)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "p.db")
        fill(path, args)
        conn = sqlite3.connect(path, isolation_level=None)
        top = conn.execute("SELECT max(id) FROM results").fetchone()[0]
        p = {"p_top": top, "p_cutoff": float((int(T0 + args.minutes * 60) // BLOCK + 1) * BLOCK)}
        ways: dict[str, Callable[[sqlite3.Connection, dict[str, Any]], Blocks]] = {
            "today": today, "sql-groups": sql_groups, "sql-records": sql_records,
        }  # fmt: skip
        best = dict.fromkeys([*ways, "today's SELECT alone", "deflate alone"], math.inf)
        reference: Blocks = []
        for _ in range(args.repeat):
            for name, way in ways.items():
                c0 = time.process_time()
                got = way(conn, p)
                best[name] = min(best[name], time.process_time() - c0)
                if name == "today":
                    reference = got
                elif [b[:4] for b in got] != [b[:4] for b in reference]:  # endpoint, start, end, blob
                    raise SystemExit(f"{name}: blobs differ from today's")
            c0 = time.process_time()
            conn.execute(pack._SELECT, p).fetchall()
            best["today's SELECT alone"] = min(best["today's SELECT alone"], time.process_time() - c0)
            bodies = [zlib.decompress(b[3][1:], -15) for b in reference]
            c0 = time.process_time()
            for body in bodies:
                _deflate(body)
            best["deflate alone"] = min(best["deflate alone"], time.process_time() - c0)
        conn.close()
    rows = sum(b[4] for b in reference)
    print(f"{rows:,} rows in {len(reference):,} blocks ({rows / len(reference):.1f} rows each); load average "
          f"{load0[0]:.2f} -> {os.getloadavg()[0]:.2f}; CPU per row, best of {args.repeat}:")  # fmt: skip
    for name, cpu in best.items():
        print(f"  {name:22s} {cpu / rows * 1e6:6.2f} µs")


if __name__ == "__main__":
    main()
