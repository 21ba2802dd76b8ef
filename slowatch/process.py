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
import resource
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

from slowatch import loops
from slowatch.untrusted import printable

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


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message`, one line per record whatever the message quotes: control characters
    (CR, ESC, ...) are shown escaped (untrusted.printable) and every further line (a traceback, a line
    break a target or a receiver sent) is indented, so a line starting at column 0 is always a record's."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record)).replace("\n", "\n    ")


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
        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("apscheduler").setLevel(logging.ERROR)  # slowatch logs skips and misses itself
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def raise_open_file_limit() -> tuple[int, int]:
    """Raise this process's soft open-file limit (RLIMIT_NOFILE) to its hard limit, as Go's runtime does:
    every probe holds a socket, and the usual soft default (1024) is far below `max_concurrency` plus the
    API's connections, while the hard limit (systemd: 524288) is the administrator's real bound. Prober
    workers inherit it. Returns (before, after); a limit that cannot be raised is left as it is."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft == resource.RLIM_INFINITY or soft >= hard:
        return soft, soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):  # (a hard limit above the kernel's nr_open: keep the soft one)
        return soft, soft
    return soft, hard


def tune() -> None:
    """Process-wide switches: no `_created` series (prometheus-client's switch is per process; the
    per-endpoint families never export them, so counters and histograms look alike on /metrics, see
    metrics/exposition.py), a young GC generation collected less often, and the open-file limit
    raised to its hard limit (`raise_open_file_limit`, logged when it changed)."""
    from prometheus_client import disable_created_metrics  # (here: the command line imports this module)

    disable_created_metrics()  # type: ignore[no-untyped-call]
    gc.set_threshold(*GC_THRESHOLDS)
    before, after = raise_open_file_limit()
    if after != before:
        logging.getLogger(__name__).info("open-file limit raised to the hard limit nofile=%d->%d", before, after)


def run(main: Coroutine[Any, Any, T], *, event_loop: str, log_format: str, log_level: str) -> T:
    """Set the process up (logging, `tune`) and run `main` on the chosen event loop."""
    setup_logging(log_format, log_level)
    tune()
    return loops.run(main, event_loop)


__all__ = [
    "GC_THRESHOLDS", "LOG_LEVELS", "JsonFormatter", "log_level", "raise_open_file_limit", "run", "setup_logging",
    "tune",
]  # fmt: skip
