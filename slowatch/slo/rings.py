"""Ring buffers of cell counts (`array('I')`, slot = cell % n) and bulk copies into them.

A ledger keeps each layer of cells in rings; restoring persisted cells copies whole runs of
consecutive cells slice-wise (C speed) instead of one cell at a time.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence


def zeros(n: int) -> array[int]:
    return array("I", bytes(4 * n))


def ring_sum(a: array[int], lo: int, hi: int, n: int) -> int:
    """Sum of the ring slots of cells lo..hi (inclusive; at most n cells)."""
    if hi < lo:
        return 0
    i, j = lo % n, hi % n
    return sum(a[i : j + 1]) if i <= j else sum(a[i:]) + sum(a[: j + 1])


def copy_run(
    rings: Sequence[array[int]], columns: Sequence[Sequence[int]], first: int, lo: int, hi: int, *, add: bool
) -> list[int]:
    """Put `columns[k][j]` (the value of cell `first + j`) into `rings[k]` for the cells within lo..hi.

    With `add` the values are added to what the slots hold. Returns the cells whose slots held counts
    before (in `rings[1]`, the totals), i.e. the cells whose stored value changed by merging.
    """
    n = len(rings[0])
    merged: list[int] = []
    a, b = max(first, lo), min(first + len(columns[0]), hi + 1)
    while a < b:
        i = a % n
        m = min(b - a, n - i)  # a run of slots without wrapping around
        src = slice(a - first, a - first + m)
        if add and any(rings[1][i : i + m]):
            merged += [a + j for j in range(m) if rings[1][i + j]]
            for ring, column in zip(rings, columns, strict=True):
                ring[i : i + m] = array("I", map(int.__add__, ring[i : i + m], column[src]))
        else:
            for ring, column in zip(rings, columns, strict=True):
                ring[i : i + m] = array("I", column[src])
        a += m
    return merged


__all__ = ["copy_run", "ring_sum", "zeros"]
