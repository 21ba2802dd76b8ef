"""Client TLS contexts (built once, shared) and peer certificate expiry."""

from __future__ import annotations

import os
import ssl
from collections import OrderedDict
from dataclasses import dataclass

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


def peer_cert_expiry(ssl_object: object) -> float | None:
    """notAfter of the peer's (leaf) certificate as unix seconds, verified or not.

    Unverified certificates are only available DER-encoded; they are parsed with `cryptography` when it is
    installed. Python 3.11 does not expose the verified chain, so intermediates are not looked at."""
    if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
        return None
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


__all__ = ["SslContexts", "TlsSettings", "file_stamp", "load_error", "peer_cert_expiry"]
