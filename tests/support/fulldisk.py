"""A real full filesystem for store tests: a small tmpfs (root only), filled to the last byte on demand."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


class FullDisk:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._filler = root / "filler"

    def fill(self) -> None:
        """Write a filler file until ENOSPC: the next page SQLite needs fails with SQLITE_FULL."""
        with contextlib.suppress(OSError), open(self._filler, "ab") as f:
            chunk = b"\0" * 65536
            with contextlib.suppress(OSError):
                while True:
                    f.write(chunk)
                    f.flush()
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"\0")
                    f.flush()

    def free(self) -> None:
        self._filler.unlink(missing_ok=True)


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "16m") -> Iterator[FullDisk]:
    """Mount a tmpfs of `size` at `path` (skipped when not root); always unmounted."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill it needs root")
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield FullDisk(path)
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


__all__ = ["FullDisk", "tmpfs"]
