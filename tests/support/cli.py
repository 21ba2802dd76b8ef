"""Run the `slowatch` command line in a child process, as a user would, and collect what it says."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path


async def run_cli(*args: str, cwd: Path, timeout: float = 40.0, merged: bool = False) -> tuple[int, str, str]:
    """`python -m slowatch *args` in `cwd`: (exit code, stdout, stderr); with `merged`, stderr goes into stdout
    (in the order written) and the third value is empty."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "slowatch", *args, cwd=cwd, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT if merged else asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), (err or b"").decode()


__all__ = ["run_cli"]
