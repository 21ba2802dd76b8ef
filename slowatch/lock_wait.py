"""`--lock-wait`: how long `slowatch silence`, `annotate --config` and `correct` wait for a database another
process keeps write-locked (store/one_write.py says what happens then).

The same values as `store.one_write.CLI_WAIT` and `LOCK_WAIT_HELP`, here without the store: the command line
builds its parser from them, and importing any module under `slowatch.store` imports the whole store
(sqlite-utils and the writer) into `slowatch --help`. tests/test_cli_imports.py keeps the two equal.
"""

from __future__ import annotations

CLI_WAIT = 30.0
LOCK_WAIT_HELP = f"seconds to wait for a database another process keeps locked (default {CLI_WAIT:g})"

__all__ = ["CLI_WAIT", "LOCK_WAIT_HELP"]
