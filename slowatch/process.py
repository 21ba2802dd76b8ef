"""What a long-running slowatch process sets up once, the same way in the daemon and its prober workers.

`run(main, ...)` is the entry point of `slowatch run`, `slowatch demo` and `python -m slowatch.workers`:
logging (`setup_logging`), then the process-wide switches (`tune`), then the event loop (`loops.run`).
Library code (the `Daemon`, the probes, the tests that build them) never flips process-wide state itself.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

from prometheus_client import disable_created_metrics

from slowatch import loops

T = TypeVar("T")

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def log_level(text: str) -> str:
    """`--log-level` (an argparse type): a level name in any case; anything else is a usage error."""
    if text.upper() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"not a log level: {text[:40]!r} (choose from {', '.join(LOG_LEVELS)})")
    return text.upper()


GC_THRESHOLDS = (50_000, 20, 100)
"""Probes allocate many short-lived objects: at 10,000 endpoints the default thresholds paused the loop
for 10 s in every 45 (benchmarks/README.md, fix 0)."""


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc)


def setup_logging(fmt: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("apscheduler").setLevel(logging.ERROR)  # slowatch logs skips and misses itself
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def tune() -> None:
    """Process-wide switches: no `_created` series (prometheus-client's switch is per process; the
    per-endpoint families never export them, so counters and histograms look alike on /metrics, see
    metrics/exposition.py), and a young GC generation collected less often."""
    disable_created_metrics()  # type: ignore[no-untyped-call]
    gc.set_threshold(*GC_THRESHOLDS)


def run(main: Coroutine[Any, Any, T], *, event_loop: str, log_format: str, log_level: str) -> T:
    """Set the process up (logging, `tune`) and run `main` on the chosen event loop."""
    setup_logging(log_format, log_level)
    tune()
    return loops.run(main, event_loop)


__all__ = ["GC_THRESHOLDS", "LOG_LEVELS", "JsonFormatter", "log_level", "run", "setup_logging", "tune"]
