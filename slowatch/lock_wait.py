"""`--lock-wait`: how long `slowatch silence`, `annotate --config` and `correct` wait for a database another
process keeps write-locked (store/one_write.py says what happens then).

The same values as `store.one_write.CLI_WAIT` and `LOCK_WAIT_HELP`, here without the store: the command line
builds its parser from them, and importing any module under `slowatch.store` imports the whole store
(sqlite-utils and the writer) into `slowatch --help`. tests/test_cli_imports.py keeps the two equal.
"""

from __future__ import annotations

import argparse
import math

CLI_WAIT = 30.0
LOCK_WAIT_HELP = f"seconds to wait for a database another process keeps locked (default {CLI_WAIT:g})"


def lock_wait(text: str) -> float:
    """argparse type for --lock-wait: 0, negative or NaN gave up at once on a database nobody locked ("stayed
    locked by another process for 0 s"), infinite waited without end."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text[:40]!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds (got {text[:40]})")
    return value


__all__ = ["CLI_WAIT", "LOCK_WAIT_HELP", "lock_wait"]
