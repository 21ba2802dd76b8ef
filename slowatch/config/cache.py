"""The compiled config cache: a large config's validated Config, kept so the next load skips YAML and pydantic.

Composing and validating 100,000 endpoints takes about as long as libyaml needs just to parse them,
twice over; unpickling the finished Config takes a twentieth of that. So after a successful load of a
file of at least `CACHE_ABOVE` bytes the Config is written to `.<config file name>.cache` next to the
config file, and the next load of the same result (`slowatch check`, a start, a reload) reads it back.
It is kept in parts (config/parts.py): a reload takes over the Endpoint objects of unchanged parts.

**Key**: everything the result depends on: the file's bytes, the value (or absence) of every variable
the text names in a `${NAME...}` (a superset: comments and `$${...}` count too), the source of every
module of the slowatch package, and the versions of Python, pydantic, pydantic-core and PyYAML.

**Secrets**: a Config holds values taken from the environment (SecretStr tokens, interpolated URLs).
The cache file is encrypted and authenticated (AES-256-GCM) with a key derived from the key material
above, and is written 0600. Reading it thus needs the config file *and* the values of the variables it
names: the cache reveals nothing that those two do not, and no environment value is ever on disk in
plaintext. A file that is not ours (owner, group/world-writable, a symlink), is torn, or was made
for another key simply misses, and the config is loaded from YAML as usual; failing to write the
cache (a read-only directory) is logged once per load and changes nothing else.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
import sys
import tempfile
from collections.abc import Mapping
from functools import cache
from pathlib import Path

import pydantic
import pydantic_core
import yaml
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import slowatch
from slowatch.config.parts import Unpacker, pack
from slowatch.config.schema import Config

logger = logging.getLogger(__name__)

CACHE_ABOVE = 1 << 20
"""Bytes of YAML (~8,000 endpoints) from which a config is cached: below it a load takes well under a second."""

_MAGIC = b"slowatch-config-cache/2\n"  # 2: the Config in parts (config/parts.py)
_NAMES = re.compile(rb"\$\{([A-Za-z_][A-Za-z0-9_]*)")


def cache_path(config: str | Path) -> Path:
    """Where the compiled cache of the config file at `config` is kept: beside it, hidden."""
    path = Path(config)
    return path.with_name(f".{path.name}.cache")


@cache
def _code_digest() -> bytes:
    """A digest of the slowatch package's source and the libraries that shape a Config."""
    digest = hashlib.sha256()
    for part in (sys.version, pydantic.VERSION, pydantic_core.__version__, yaml.__version__, slowatch.__version__):
        digest.update(part.encode() + b"\0")
    root = Path(slowatch.__file__).parent
    for module in sorted(root.rglob("*.py")):
        digest.update(str(module.relative_to(root)).encode() + b"\0")
        digest.update(module.read_bytes())
    return digest.digest()


def cache_key(raw: bytes, env: Mapping[str, str], *, stand_ins: bool = False) -> bytes:
    """The AES-256 key of the cache of a config with content `raw` loaded under `env`; with `stand_ins` (a load
    for a command that uses no secret, config/stand_ins.py) and a variable unset, another key than a strict
    load's: a Config holding stand-ins is never read back by `run` (nor by `check`), whose load of the same file
    and environment fails."""
    digest = hashlib.sha256(_MAGIC + _code_digest())
    digest.update(hashlib.sha256(raw).digest())
    unset = False
    for name in sorted({m.decode() for m in _NAMES.findall(raw)}):
        value = env.get(name)
        unset = unset or value is None
        digest.update(name.encode() + (b"\0-" if value is None else b"\0=" + value.encode("utf-8", "surrogatepass")))
        digest.update(b"\0")
    if stand_ins and unset:
        digest.update(b"stand-ins\0")
    return digest.digest()


def read_cached(config: str | Path, key: bytes, unpacker: Unpacker | None = None) -> Config | None:
    """The Config cached for `config` under `key`, or None (absent, not ours, stale or damaged); built by
    `unpacker` (which takes over the parts it built last time) or a new one."""
    path = cache_path(config)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
            logger.warning("config cache ignored: not a regular file owned by us and writable only by us file=%s", path)
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            blob = f.read()
    except OSError:
        return None
    finally:
        os.close(fd)
    if not blob.startswith(_MAGIC) or len(blob) < len(_MAGIC) + 12:
        return None
    nonce, sealed = blob[len(_MAGIC) : len(_MAGIC) + 12], blob[len(_MAGIC) + 12 :]
    try:
        plain = AESGCM(key).decrypt(nonce, sealed, _MAGIC)
    except InvalidTag:
        return None  # another content, environment or slowatch version: the usual case after an edit
    try:
        return (unpacker or Unpacker()).build(plain)  # authenticated above: written by us, for exactly this key
    except Exception:  # a class that no longer unpickles: treat as stale
        logger.warning("config cache unreadable, loading the file file=%s", path, exc_info=True)
        return None


def write_cached(config_file: str | Path, key: bytes, config: Config) -> bytes:
    """Store `config` as the cache of `config_file` under `key` (atomically, 0600), even when that fails
    (a read-only directory: logged) return its packed form (parts.pack)."""
    path = cache_path(config_file)
    pickled = pack(config)
    nonce = os.urandom(12)
    blob = _MAGIC + nonce + AESGCM(key).encrypt(nonce, pickled, _MAGIC)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")  # mode 0600
    except OSError as exc:
        logger.info("config cache not written: %s file=%s", exc.strerror or type(exc).__name__, path)
        return pickled
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.replace(tmp, path)
    except OSError as exc:
        logger.info("config cache not written: %s file=%s", exc.strerror or type(exc).__name__, path)
        Path(tmp).unlink(missing_ok=True)
    return pickled


__all__ = ["CACHE_ABOVE", "cache_key", "cache_path", "read_cached", "write_cached"]
