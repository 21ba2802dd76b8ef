"""Load a large config in a short-lived child process and take back only the result.

Composing and validating YAML for 100,000 endpoints (12.5 MiB) peaks at ~1 GB (the node tree with locations,
the plain data and the models all alive at once: the child's VmHWM); the allocator keeps most of that peak as
resident memory long after the garbage is freed (a daemon that loaded 50,000 endpoints in-process stayed at
550 MB, one that loaded 100,000 in a child at 430 MB). The finished Config, with equal sub-models shared
(config/share.py), is ~70 MB and pickles to ~18 MB. So a file above `ISOLATE_ABOVE` bytes is
loaded by `python -m slowatch.config.isolated FILE` and the Config (or the ConfigError's problems)
comes back pickled on its stdout, in parts (config/parts.py: a reload that changed one endpoint
unpickles one part and keeps the running Endpoint objects of the others): the daemon never holds the peak.
Files below ISOLATE_ABOVE load in-process. The child inherits the environment, so `${VAR}` interpolation
is the same (its PYTHONHASHSEED is fixed: CHILD_HASH_SEED).

Both paths go through the compiled config cache (config/cache.py) for files of at least `CACHE_ABOVE`
bytes: a hit is read in-process (no child: unpickling the Config is all there is to do), a miss is
loaded as above and its Config written to the cache by whoever loaded it, from the very bytes it read.

A reload's child (`reload_isolated`) keeps to `RELOAD_CPU_SHARE` of one core: it sleeps the rest of every
`THROTTLE_PERIOD` (a CPU-time timer, so it yields more on a busy machine, never less). At start nothing waits
for the CPU, but during a reload the daemon probes on: a child taking a whole core for ~8 s (100,000 endpoints)
saturated a 2-core machine, and the daemon's event loop then waited 100 ms at a time (the hypervisor's steal on
a VM; the OS scheduler elsewhere). A reload takes about twice as long instead (benchmarks/README.md, session 6).
"""

from __future__ import annotations

import signal

if __name__ == "__main__":  # the loader child: a SIGHUP to every slowatch process (a reload) is not its end
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

import logging
import os
import pickle
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from slowatch.config.cache import CACHE_ABOVE, cache_key, read_cached, write_cached
from slowatch.config.loader import load, load_bytes
from slowatch.config.parts import Unpacker, pack
from slowatch.config.schema import Config
from slowatch.config.source import config_size, read_config_bytes
from slowatch.errors import ConfigError, ConfigProblem

logger = logging.getLogger(__name__)

ISOLATE_ABOVE = 1 << 20
"""Bytes of YAML (~8,000 endpoints, as for the compiled cache) from which a config that is not in the cache is
loaded in a child process: below it the load peak is small and a child's start-up (~1 s) would only delay
readiness; above it the peak grows ~10 MB per 1,000 endpoints and would stay resident in the daemon."""


RELOAD_CPU_SHARE = 0.5
"""The share of one core a reload's loader child may use (`reload_isolated`)."""
THROTTLE_PERIOD = 0.02
"""Seconds of CPU time plus sleep per throttling cycle: short enough that no core is taken for long at a time."""
CHILD_HASH_SEED = "0"
"""The loader child's PYTHONHASHSEED: sets of strings pickle in the same order from one reload to the next, so
unchanged parts of the Config are the same bytes and the daemon takes over their objects (config/parts.py)."""


def load_cached(
    path: str | Path, *, cache_above: int = CACHE_ABOVE, unpacker: Unpacker | None = None, stand_ins: bool = False
) -> Config:
    """`load(path, stand_ins=...)` under this process's environment, through the compiled cache when the file has
    at least `cache_above` bytes (a miss writes it). Raises ConfigError like `load`."""
    return _load_cached(path, cache_above, unpacker, stand_ins)[0]


def _load_cached(
    path: str | Path, cache_above: int, unpacker: Unpacker | None = None, stand_ins: bool = False
) -> tuple[Config, bytes | None]:
    """The Config and, when it was just loaded from YAML and written to the cache, its pickle."""
    raw = read_config_bytes(path)
    if len(raw) < cache_above:
        return load_bytes(raw, str(path), stand_ins=stand_ins), None
    key = cache_key(raw, os.environ, stand_ins=stand_ins)
    cached = read_cached(path, key, unpacker)
    if cached is not None:
        logger.info("config loaded from the compiled cache file=%s", path)
        return cached, None
    config = load_bytes(raw, str(path), stand_ins=stand_ins)
    return config, write_cached(path, key, config)


def load_isolated(
    path: str | Path,
    *,
    threshold: int = ISOLATE_ABOVE,
    cache_above: int = CACHE_ABOVE,
    cpu_share: float = 1.0,
    python: str = sys.executable,
    unpacker: Unpacker | None = None,
    stand_ins: bool = False,
) -> Config:
    """`load_cached(path)`, in a child process (`python -m slowatch.config.isolated`) when the file is large and
    not cached; the child uses at most `cpu_share` of one core. Raises ConfigError like `load` (a path that is
    no regular file, or too large, is refused here, before any child starts). A child that fails, or whose
    output cannot be read back, is logged and the file is loaded in this process instead. `unpacker` (kept
    from one load to the next by the caller) takes over the unchanged parts of the last Config it built.
    `stand_ins`: see `loader.load_text` (the child loads the same way)."""
    size = config_size(path)
    if size < threshold:
        return load_cached(path, cache_above=cache_above, unpacker=unpacker, stand_ins=stand_ins)
    if size >= cache_above:
        raw = read_config_bytes(path)
        cached = read_cached(path, cache_key(raw, os.environ, stand_ins=stand_ins), unpacker)
        if cached is not None:
            logger.info("config loaded from the compiled cache file=%s", path)
            return cached
    command = [python, "-m", "slowatch.config.isolated", str(path), str(cache_above), repr(cpu_share)]
    command += ["--stand-ins"] if stand_ins else []
    env = {**os.environ, "PYTHONHASHSEED": CHILD_HASH_SEED}  # equal parts pickle to equal bytes (parts.py)
    proc = subprocess.run(command, capture_output=True, check=False, env=env)
    failure = f"exit {proc.returncode}"
    if proc.returncode == 0:
        out, proc.stdout = proc.stdout, b""
        try:
            kind, payload = pickle.loads(out)  # our own child's output (see module docstring)
            del out  # not held while the Config is built from its copy: ~17 MB less at the peak (100,000 endpoints)
            if kind == "ok" and isinstance(payload, bytes):
                payload = (unpacker or Unpacker()).build(payload)  # the Config, packed once for the cache and for us
        except Exception as e:  # (cut short, or not ours): not worth a failed start or reload
            kind, payload, failure = "", None, f"exit 0, its output unreadable: {e!r}"
        if kind == "ok" and isinstance(payload, Config):
            return payload
        if kind == "error" and isinstance(payload, list):
            raise ConfigError([ConfigProblem(*p) for p in payload])
    logger.warning(
        "config: the loader process failed (%s), loading in-process file=%s stderr=%s",
        failure,
        path,
        proc.stderr.decode(errors="replace")[-500:],
    )
    return load(path, stand_ins=stand_ins)


def reload_isolated(path: str | Path, unpacker: Unpacker | None = None) -> Config:
    """`load_isolated(path)` for a reload: its child, if one is needed, keeps to RELOAD_CPU_SHARE of a core."""
    return load_isolated(path, cpu_share=RELOAD_CPU_SHARE, unpacker=unpacker)


def reloader() -> Callable[[str | Path], Config]:
    """`reload_isolated` that takes over, at each reload, the parts of the Config it built the time before."""
    unpacker = Unpacker()
    return lambda path: reload_isolated(path, unpacker)


@contextmanager
def throttled(share: float, period: float = THROTTLE_PERIOD) -> Iterator[None]:
    """Hold this (single-threaded) process to `share` of one core meanwhile: after every `share * period` seconds
    of CPU time it sleeps `(1 - share) * period` (SIGPROF; the handler runs between bytecodes). The timer is
    stopped on the way out (at interpreter exit a SIGPROF would find no handler, and kill the process)."""
    if share >= 1.0:
        yield
        return
    if share <= 0.0:
        raise ValueError(f"cpu share must be above 0 (got {share})")
    run, pause = share * period, (1.0 - share) * period
    previous = signal.signal(signal.SIGPROF, lambda _signum, _frame: time.sleep(pause))
    signal.setitimer(signal.ITIMER_PROF, run, run)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0.0)
        signal.signal(signal.SIGPROF, previous)


def _child(path: str, cache_above: int, cpu_share: float, stand_ins: bool = False) -> int:
    with throttled(cpu_share):
        try:
            config, pickled = _load_cached(path, cache_above, stand_ins=stand_ins)
            if pickled is None:
                pickled = pack(config)
            result: tuple[str, object] = ("ok", pickled)
        except ConfigError as exc:
            result = ("error", [(p.file, p.line, p.column, p.path, p.message) for p in exc.problems])
    sys.stdout.buffer.write(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4:] == ["--stand-ins"]))


__all__ = [
    "CHILD_HASH_SEED", "ISOLATE_ABOVE", "RELOAD_CPU_SHARE", "load_cached", "load_isolated", "reload_isolated",
    "reloader", "throttled",
]  # fmt: skip
