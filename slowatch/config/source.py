"""The config file itself: a regular file of at most `MAX_CONFIG_BYTES`, checked before it is read.

A path that is (or links to) a FIFO, a device such as /dev/zero or a directory is refused without
reading it (opening a FIFO would block, /dev/zero never ends), and so is a file above the limit:
a 50 MB config used to take minutes and gigabytes to parse. The file is opened non-blocking and
checked with fstat on the open descriptor, so it cannot be swapped between the check and the read.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path

from slowatch.errors import ConfigError, ConfigProblem

MAX_CONFIG_BYTES = 64 << 20
"""64 MiB. A 100,000-endpoint config is ~13 MiB written one endpoint per line (benchmarks/run.py), and
two to three times that in block style with headers and labels."""

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _problem(path: str | Path, message: str) -> ConfigError:
    return ConfigError([ConfigProblem(str(path), None, None, "", message)])


def _refusal(st: os.stat_result, max_bytes: int) -> str | None:
    """Why a file with this status is not read as a config, or None when it is fine."""
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
        return f"is {kind}, not a regular file: point --config at the YAML file itself"
    if st.st_size > max_bytes:
        return (
            f"the file is {st.st_size / (1 << 20):,.1f} MiB; config files are limited to "
            f"{max_bytes / (1 << 20):g} MiB (is this the right file?)"
        )
    return None


def _open(path: str | Path) -> int:
    try:
        return os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if isinstance(exc, IsADirectoryError):
            raise _problem(path, "is a directory, not a regular file: point --config at the YAML file itself") from None
        raise _problem(path, f"cannot read the file: {exc.strerror or type(exc).__name__}") from None


def config_size(path: str | Path, *, max_bytes: int = MAX_CONFIG_BYTES) -> int:
    """The size of the config file at `path`; raises ConfigError when it is unreadable, not a regular
    file (after following symlinks) or larger than `max_bytes`."""
    fd = _open(path)
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    refusal = _refusal(st, max_bytes)
    if refusal is not None:
        raise _problem(path, refusal)
    return st.st_size


def read_config_bytes(path: str | Path, *, max_bytes: int = MAX_CONFIG_BYTES) -> bytes:
    """The content of the config file at `path`, checked as `config_size` says. Raises ConfigError."""
    fd = _open(path)
    try:
        refusal = _refusal(os.fstat(fd), max_bytes)
        if refusal is not None:
            raise _problem(path, refusal)
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise _problem(path, f"cannot read the file: {exc.strerror or type(exc).__name__}") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:  # it grew after the check
        raise _problem(path, f"the file grew beyond the {max_bytes / (1 << 20):g} MiB limit while being read")
    return data


def fingerprint(path: str | Path, *, max_bytes: int = MAX_CONFIG_BYTES) -> str:
    """What the config watcher compares: a hash of the content, or, for a file that would be refused,
    its type, size and modification time (never read), or, for a path that cannot be opened or read
    (deleted, permission denied, a dangling symlink), why: a change the watcher reports once."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        return _unreadable(exc)
    try:
        st = os.fstat(fd)
        if _refusal(st, max_bytes) is not None:
            return f"refused:{st.st_mode:o}:{st.st_size}:{st.st_mtime_ns}"
        digest = hashlib.sha256()
        left = max_bytes + 1
        with os.fdopen(fd, "rb", closefd=False) as f:
            while left > 0 and (block := f.read(min(left, 1 << 20))):
                digest.update(block)
                left -= len(block)
        return digest.hexdigest()
    except OSError as exc:
        return _unreadable(exc)
    finally:
        os.close(fd)


def _unreadable(exc: OSError) -> str:
    return f"unreadable:{errno.errorcode.get(exc.errno or 0, type(exc).__name__)}"


__all__ = ["MAX_CONFIG_BYTES", "config_size", "fingerprint", "read_config_bytes"]
