"""Client TLS contexts (built once, shared) and the expiry of a peer's certificate chain."""

from __future__ import annotations

import os
import ssl
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr


@dataclass(frozen=True, slots=True)
class TlsSettings:
    verify: bool = True
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    key_password: SecretStr | None = None


class SslContexts:
    """SSLContexts keyed by settings and the files' identity and change times (`file_stamp`), so a rotated CA
    bundle or client certificate is picked up, while the common case costs a dict lookup and a stat per
    file (loading a CA bundle costs milliseconds of CPU). Bounded, least recently used first out. One
    per ProbeContext."""

    def __init__(self, max_size: int = 128) -> None:
        self._max_size = max_size
        self._cache: OrderedDict[tuple[object, ...], ssl.SSLContext] = OrderedDict()

    def get(self, settings: TlsSettings) -> ssl.SSLContext:
        """Raises OSError (missing file) or ssl.SSLError (bad file or password)."""
        files = (settings.ca_file, settings.cert_file, settings.key_file)
        stamps = tuple(file_stamp(f) if f else None for f in files)
        password = settings.key_password.get_secret_value() if settings.key_password else None
        key = (settings.verify, *files, *stamps, password)
        ctx = self._cache.get(key)
        if ctx is None:
            ctx = _build(settings)
            self._cache[key] = ctx
            if len(self._cache) > self._max_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return ctx


def file_stamp(path: str) -> tuple[int, ...]:
    """What changes whenever the file at `path` (after symlinks) does: a file renamed over it (a Kubernetes
    Secret's `..data` swap, an editor's save) is another inode; a write in place, or a file copied back
    with its old or the same mtime (`cp -p`, `rsync -t`, a restore), changes the ctime, which no one can
    set. The mtime alone missed a CA bundle replaced by one with the same mtime."""
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _build(settings: TlsSettings) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=settings.ca_file)
    if not settings.verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if settings.cert_file:
        password = settings.key_password.get_secret_value() if settings.key_password else None
        ctx.load_cert_chain(settings.cert_file, settings.key_file, password=password)
    return ctx


def load_error(exc: OSError) -> str:
    """The message for a CA bundle / client certificate that cannot be loaded (missing, bad, wrong password)."""
    if isinstance(exc, ssl.SSLError):
        return f"cannot load TLS files: {exc.reason or exc.strerror or exc}"
    return f"cannot load TLS files: {exc.strerror or exc}: {exc.filename}"


@dataclass(frozen=True, slots=True)
class ChainExpiry:
    """The certificate of a peer's chain that expires first."""

    not_after: float  # unix seconds
    name: str | None  # its subject's common name when it is not the leaf (an intermediate or the root), else None


def chain_expiry(ssl_object: object) -> ChainExpiry | None:
    """The earliest notAfter in the peer's chain: of the verified chain (leaf to trust anchor) when the
    connection was verified, of the certificates the server sent when it was not; what blackbox_exporter
    exports as `probe_ssl_last_chain_expiry_timestamp_seconds` and `probe_ssl_earliest_cert_expiry`. An
    intermediate that expires before the leaf breaks every client at its own date, so the leaf's alone
    said "fine" too long. Falls back to the leaf when no chain can be read."""
    if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
        return None
    earliest: ChainExpiry | None = None
    for position, info in enumerate(_chain(ssl_object)):
        try:
            not_after = float(ssl.cert_time_to_seconds(info["notAfter"]))
        except (KeyError, TypeError, ValueError):
            continue
        if earliest is None or not_after < earliest.not_after:
            earliest = ChainExpiry(not_after, None if position == 0 else _common_name(info))
    if earliest is not None:
        return earliest
    leaf = _leaf_expiry(ssl_object)
    return None if leaf is None else ChainExpiry(leaf, None)


def peer_cert_expiry(ssl_object: object) -> float | None:
    """`chain_expiry`'s unix time."""
    found = chain_expiry(ssl_object)
    return None if found is None else found.not_after


def _chain(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> list[dict[str, Any]]:
    """The decoded certificates of the chain, leaf first. Python makes the chains public in 3.13 (as DER);
    its `_ssl` object has had them, decoded by `get_info()`, since 3.10."""
    which = "get_unverified_chain" if ssl_object.context.verify_mode == ssl.CERT_NONE else "get_verified_chain"
    getter = getattr(getattr(ssl_object, "_sslobj", None), which, None)
    if getter is None:  # pragma: no cover - another Python
        return []
    try:
        return [cert.get_info() for cert in getter() or ()]
    except (ssl.SSLError, ValueError, AttributeError):  # pragma: no cover - a certificate OpenSSL cannot decode
        return []


def _common_name(info: dict[str, Any]) -> str:
    pairs = [pair for rdn in info.get("subject", ()) for pair in rdn]
    names = [value for key, value in pairs if key == "commonName"]
    return names[0] if names else ", ".join(f"{key}={value}" for key, value in pairs) or "(no subject)"


def _leaf_expiry(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> float | None:
    """notAfter of the peer's (leaf) certificate, verified or not (unverified ones only as DER: parsed with
    `cryptography` when it is installed)."""
    decoded = ssl_object.getpeercert()
    not_after = decoded.get("notAfter") if decoded else None
    if isinstance(not_after, str):
        return float(ssl.cert_time_to_seconds(not_after))
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    try:
        from cryptography import x509
    except ImportError:  # pragma: no cover - cryptography is optional at run time
        return None
    try:
        return x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp()
    except ValueError:
        return None


__all__ = ["ChainExpiry", "SslContexts", "TlsSettings", "chain_expiry", "file_stamp", "load_error", "peer_cert_expiry"]
