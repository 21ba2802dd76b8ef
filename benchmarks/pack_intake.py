"""What packing from memory would cost the writer to take rows in: store_writer.py with an intake in its commit hook.

  .venv/bin/python benchmarks/pack_intake.py --endpoints 100000 --rate 1667 --minutes 10   # store_writer.py's args

Runs benchmarks/store_writer.py unchanged but for the writer's commit hook (`FoldSchedule.committed`, which
store_writer.py times as "the fold memory taking the rows in"): after the fold memory, every committed row also
goes into its (endpoint, block)'s record, as a pass from memory would need it: ms since the block start and µs
(uint32 each, blocks.py's roundings), outcome code, status, attempt, final, id - first id (uint32): 17 bytes
appended to a bytearray per open block; a non-success row's or a message's (id, message, phases) to a side list
per block; the (kind, cert, URL) of each endpoint kept to notice a change. Blocks that a pass would have packed
(start before block_of(ts - 900), the default pack_after) are dropped every 10 simulated minutes. Nothing is
packed from these records: the pass is still the store's. Compare its "taking the rows in" and peak RSS with a
plain store_writer.py run beside it (issue #16, session 14: benchmarks/README.md).
"""

from __future__ import annotations

import math
import runpy
import struct
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from slowatch.store import fold
from slowatch.store.blocks import BLOCK, OUTCOME_CODES

RECORD = struct.Struct("<IIBHBBI")
PACK_AFTER = 900.0


class Intake:
    """Per endpoint, per open block: the packed records; side values; the last (kind, cert, URL)."""

    def __init__(self) -> None:
        self.blocks: dict[str, dict[int, bytearray]] = {}
        self.side: dict[tuple[str, int], list[tuple[Any, ...]]] = {}
        self.last: dict[str, tuple[Any, ...]] = {}
        self.codes = {c: i for i, c in enumerate(OUTCOME_CODES)}
        self.base: int | None = None
        self.drop_at = 0.0

    def add(self, written: Sequence[tuple[int, list[tuple[Any, ...]]]]) -> None:
        pack, floor, codes, blocks, last = RECORD.pack, math.floor, self.codes, self.blocks, self.last
        known, nudge = -1, 0.0
        for first, rows in written:
            base = self.base = first if self.base is None else self.base
            for rid, row in enumerate(rows, first):
                ts, ep = row[0], row[1]
                start = int(ts // BLOCK) * BLOCK
                if start != known:
                    known, nudge = start, math.ulp(start + BLOCK) * 900  # (blocks._FLOOR)
                open_ = blocks.get(ep)
                if open_ is None:
                    open_ = blocks[ep] = {}
                buf = open_.get(start)
                if buf is None:
                    buf = open_[start] = bytearray()
                d, status = row[4], row[5]
                us = round(d * 1e6)
                buf += pack(floor((ts - start) * 1000.0 + nudge), us + (us / 1e6 < d), codes[row[3]],
                            0 if status is None else status, row[7], row[8], rid - base)  # fmt: skip
                if row[3] != "success" or row[6]:
                    self.side.setdefault((ep, start), []).append((rid, row[6], row[9]))
                seen = (row[2], row[10], row[11])
                if last.get(ep) != seen:
                    last[ep] = seen
                if ts > self.drop_at:
                    self._drop(ts)

    def _drop(self, ts: float) -> None:
        cutoff = int((ts - PACK_AFTER) // BLOCK) * BLOCK
        for open_ in self.blocks.values():
            for start in [s for s in open_ if s < cutoff]:
                del open_[start]
        for key in [k for k in self.side if k[1] < cutoff]:
            del self.side[key]
        self.drop_at = cutoff + PACK_AFTER + BLOCK

    def report(self) -> str:
        rows = sum(len(buf) for open_ in self.blocks.values() for buf in open_.values()) // RECORD.size
        opened = sum(len(open_) for open_ in self.blocks.values())
        return (
            f"  the intake at the end: {rows:,} rows in records, {opened:,} open blocks, {len(self.side):,} side lists"
        )


def main() -> None:
    intake = Intake()
    committed = fold.FoldSchedule.committed

    def with_intake(self: fold.FoldSchedule, written: Sequence[Any], numbered: Sequence[Any] | None = None) -> None:
        committed(self, written, numbered)
        intake.add(written)

    fold.FoldSchedule.committed = with_intake  # type: ignore[method-assign]
    script = Path(__file__).resolve().parent / "store_writer.py"
    sys.argv = [str(script), *sys.argv[1:]]
    runpy.run_path(str(script), run_name="__main__")
    print(intake.report())


if __name__ == "__main__":
    main()
