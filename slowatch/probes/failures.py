"""Turn exceptions from sockets, TLS and DNS into (Outcome, message): short, useful to on-call, no secrets."""

from __future__ import annotations

import errno
import json
import re
import resource
import socket
import ssl
from collections.abc import Iterator

import aiohttp

from slowatch.models import Outcome
from slowatch.sockets import SelfConnectedError

Failure = tuple[Outcome, str]

INVALID_HOST_NAME = "not a valid host name (an empty label, or one longer than 63 characters)"
"""The strerror of the socket.gaierror `net.getaddrinfo` raises for a name no resolver is asked about."""


def causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception, then what caused it (`__cause__`, `__context__`, aiohttp's `os_error`), once each."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop(0)
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        os_error = getattr(e, "os_error", None)
        todo.extend([os_error if isinstance(os_error, BaseException) else None, e.__cause__, e.__context__])


def tls_message(exc: ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message}"
    reason = exc.reason or exc.strerror or str(exc)
    return f"TLS handshake failed: {reason}"


def classify_os_error(exc: BaseException, where: str) -> Failure | None:
    """Outcome for a low-level cause anywhere in the chain, or None if there is none we know."""
    for e in causes(exc):
        if isinstance(e, ssl.SSLError) and not isinstance(e, aiohttp.ClientError):  # not aiohttp's wrappers
            if isinstance(e, ssl.SSLEOFError | ssl.SSLZeroReturnError):
                return Outcome.CONNECTION_RESET, f"{where} closed the connection during the TLS handshake"
            return Outcome.TLS_ERROR, tls_message(e)
        if isinstance(e, socket.gaierror):
            return Outcome.DNS_ERROR, f"cannot resolve {where}: {e.strerror or e}"
        if isinstance(e, SelfConnectedError):
            why = "the probe's socket was given that port and connected to itself (TCP self-connect)"
            return Outcome.CONNECTION_REFUSED, f"nothing listens on {where}: {why}"
        if isinstance(e, ConnectionRefusedError):
            return Outcome.CONNECTION_REFUSED, f"connection refused by {where}"
        if isinstance(e, ConnectionResetError | ConnectionAbortedError | BrokenPipeError):
            return Outcome.CONNECTION_RESET, f"connection reset by {where}"
    return None


def out_of_descriptors(exc: BaseException) -> Failure | None:
    """slowatch's own open-file limit (EMFILE) or the system's (ENFILE), anywhere in the chain: said as
    such, with the limit, so that nobody chases the target (it is an `error`, like other local faults)."""
    for e in causes(exc):
        if isinstance(e, OSError) and e.errno in (errno.EMFILE, errno.ENFILE):
            if e.errno == errno.ENFILE:
                return Outcome.ERROR, "slowatch could not open a socket: the system's open-file table is full"
            soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            return Outcome.ERROR, (
                f"slowatch is out of file descriptors (open-file limit {soft}): "
                "raise ulimit -n / LimitNOFILE or lower server.max_concurrency"
            )
    return None


def classify(exc: BaseException, where: str, timeout: float) -> Failure:
    """Any exception -> one outcome. `where` is `host:port` (never a URL with credentials)."""
    if isinstance(exc, TimeoutError):
        return Outcome.TIMEOUT, f"no answer from {where} within {timeout:g}s"
    if (local := out_of_descriptors(exc)) is not None:
        return local
    found = classify_os_error(exc, where)
    if found is not None:
        return found
    if isinstance(exc, OSError) and exc.strerror:
        return Outcome.ERROR, f"{type(exc).__name__}: {exc.strerror} ({where})"
    return Outcome.ERROR, short(f"{type(exc).__name__}: {exc}")


_CUT_SHORT = re.compile(r"received (\d+) of (\d+) bytes")
_ENCODING = re.compile(r"[Cc]an not decode content-encoding: (\w+)")


def payload_failure(text: str, where: str) -> Failure:
    """An HTTP body that could not be read, from the text of aiohttp's ClientPayloadError (which keeps the
    socket error of a reset, the byte counts and a decoding failure only in its message)."""
    if "ConnectionResetError" in text:
        return Outcome.CONNECTION_RESET, f"connection reset by {where} while reading the body"
    encoding = _ENCODING.search(text)
    if encoding is not None:  # corrupt gzip/deflate, or brotli/zstd without their module
        return Outcome.PROTOCOL_ERROR, f"cannot decode the body (Content-Encoding: {encoding.group(1)})"
    cut = _CUT_SHORT.search(text)
    detail = f"received {cut.group(1)} of {cut.group(2)} bytes" if cut else short(text, 120)
    return Outcome.PROTOCOL_ERROR, f"response body cut short: {detail}"


def short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def show(value: object, limit: int = 80) -> str:
    """A value from a response, quoted and clipped for a message."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return short(text, limit)


__all__ = [
    "INVALID_HOST_NAME",
    "Failure",
    "causes",
    "classify",
    "classify_os_error",
    "out_of_descriptors",
    "payload_failure",
    "short",
    "show",
    "tls_message",
]
