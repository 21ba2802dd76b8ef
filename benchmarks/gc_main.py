"""`python -m slowatch` with every cyclic-GC pause of at least 20 ms logged to stderr (`run.py --gc-log`).

    python benchmarks/gc_main.py [--gc-threshold=G0,G1,G2] run --config FILE ...

`--gc-threshold` (must come first) calls gc.set_threshold(G0, G1, G2) before the daemon starts, to
measure GC tuning without touching slowatch.

Lines look like `gc-pause gen=2 ms=412.3 collected=0 at=1795300000.123` and go to the daemon's log.
"""

from __future__ import annotations

import gc
import sys
import time
from typing import Any

from slowatch.cli import main

_started: list[float] = [0.0]


def _callback(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
        return
    ms = (time.perf_counter() - _started[0]) * 1000
    if ms >= 20:
        sys.stderr.write(
            f"gc-pause gen={info['generation']} ms={ms:.1f} collected={info['collected']} at={time.time():.3f}\n"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1].startswith("--gc-threshold="):
        gc.set_threshold(*(int(x) for x in sys.argv.pop(1).split("=", 1)[1].split(",")))
    gc.callbacks.append(_callback)
    sys.exit(main())
