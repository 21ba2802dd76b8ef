"""`python -m slowatch` on uvloop, for `run.py --uvloop` (measures whether uvloop is a clean win).

python benchmarks/uvloop_main.py run --config FILE ...
"""

from __future__ import annotations

import asyncio
import sys

import uvloop

from slowatch.cli import main

if __name__ == "__main__":
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    sys.exit(main())
