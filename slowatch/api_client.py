"""The command line's one HTTP exchange with a running daemon (`gate --url`, `annotate --url`).

A CI pipeline runs these commands against whatever answers at `--url`, so nothing a server does may
crash them, hang them, fill their memory or show the token: every failure is one `ApiError` line
(the commands print it on stderr and exit 2).

    --url       http(s)://host[:port][/prefix], nothing more: another scheme, a query, a user or a
                password in it is refused before any connection ("--url: ...")
    --timeout   seconds (default 10; positive and finite, else argparse refuses it) for the whole
                exchange: connecting, TLS, the headers and the last byte of the body. A server that
                never answers or drips a byte a second ends in "no complete answer within 10s"
    redirects   never followed: a 3xx is an error naming where it pointed, so the token goes to
                `--url`'s origin and nowhere else and the answer comes from the daemon asked
    body        read as a stream and at most MAX_BODY (1 MiB): a larger answer (a declared
                Content-Length, or one that keeps coming) is an error, never held whole
    answer      the expected status with `application/json` in UTF-8 that parses: an HTML page, other
                text, undecodable bytes or JSON nested too deep are errors, not a traceback
    errors      another status: "<url> answered 403 Forbidden (why): <the daemon's `error` field, or
                the body's text, one line of at most 200 characters>"; 429 adds its Retry-After
    secrets     the token never appears in a message, even when the server echoes it back (removed
                before a field is cut short, so no part of it shows either)

What the JSON means is the caller's to check (gate_cli.gate_answer, annotate._stored): a shape it does
not know is an ApiError too, never a default.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from typing import TYPE_CHECKING, Any

from slowatch.untrusted import one_line

if TYPE_CHECKING:  # imported where used: `slowatch --help` and the other commands never need aiohttp
    import aiohttp
    from yarl import URL

MAX_BODY = 1 << 20
DEFAULT_TIMEOUT = 10.0
TIMEOUT_HELP = "seconds for the whole exchange with the daemon (default 10; a slower answer is an error, exit 2)"
_SHOWN = 200
_HOST = re.compile(r"[A-Za-z0-9._-]+|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.%A-Za-z]*")  # a name (IDNA-encoded), IPv4 or IPv6
_WHY = {
    401: "no token or an unknown one: give --token or $SLOWATCH_TOKEN",
    403: "the token may not do this",
    404: "check --url and the names given",
    429: "rate limited",
}


class ApiError(Exception):
    """One line saying what went wrong, the token already removed."""


def positive_seconds(text: str) -> float:
    """argparse type for --timeout: 0, negative, NaN or infinite would wait forever (or crash aiohttp)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds (got {text})")
    return value


def base_url(text: str) -> URL:
    """`--url` as a base URL, or ApiError("--url: ...") naming what is wrong (without echoing a password)."""
    from yarl import URL

    try:
        url = URL(text)
        url.port  # noqa: B018 -- a port out of range raises here
    except (ValueError, TypeError) as e:
        raise ApiError(f"--url: not a URL ({one_line(str(e), 100)}); e.g. http://slowatch:9464") from None
    if url.scheme not in ("http", "https") or not _HOST.fullmatch(url.raw_host or ""):
        raise ApiError(
            f"--url: give http(s)://host[:port] of the daemon, e.g. http://slowatch:9464 (got {_safe(text)})"
        )
    if url.user is not None or url.password is not None:
        raise ApiError("--url: no user or password in the URL: the token comes from --token or $SLOWATCH_TOKEN")
    if url.query_string or url.fragment:
        raise ApiError(f"--url: no query or fragment, only the daemon's base URL (got {_safe(text)})")
    return url


def _safe(text: str) -> str:
    return repr(one_line(text, 100))


async def call(base: URL, path: str, *, token: str | None, within: float, expect: int, json_body: Any = None) -> Any:
    """The daemon's JSON answer to one request to `base` + `path` (GET, or POST with `json_body`)."""
    import aiohttp

    url = base.with_path(base.raw_path.rstrip("/") + path, encoded=True)  # `path` comes quoted
    shown = str(url)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    method = "GET" if json_body is None else "POST"
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=within)) as session,
            session.request(method, url, json=json_body, headers=headers, allow_redirects=False) as r,
        ):
            body = await _body(r, shown)
            if r.status != expect:
                raise ApiError(_refusal(shown, r, body, expect, token))
            return _redacted(_json(shown, r, body), token)
    except ApiError as e:
        raise ApiError(redact(str(e), token)) from None
    except TimeoutError:  # also aiohttp's ServerTimeoutError
        raise ApiError(f"{shown}: no complete answer within {within:g}s (--timeout)") from None
    except aiohttp.ClientConnectorCertificateError as e:
        raise ApiError(redact(f"{shown}: TLS: {one_line(str(e.certificate_error), _SHOWN)}", token)) from None
    except aiohttp.ClientConnectorError as e:
        why = e.os_error.strerror or str(e.os_error)
        raise ApiError(redact(f"{shown}: cannot connect: {one_line(why, _SHOWN)}", token)) from None
    except (aiohttp.ClientError, OSError, ValueError) as e:
        raise ApiError(redact(f"{shown}: {type(e).__name__}: {one_line(str(e), _SHOWN)}", token)) from None


async def _body(r: aiohttp.ClientResponse, shown: str) -> bytes:
    if r.content_length is not None and r.content_length > MAX_BODY:
        raise ApiError(f"{shown} answered {r.status} with {r.content_length:,} bytes: larger than 1 MiB, not read")
    body = bytearray()
    async for chunk in r.content.iter_chunked(1 << 16):
        body += chunk
        if len(body) > MAX_BODY:
            raise ApiError(f"{shown} answered {r.status} with a body larger than 1 MiB: stopped reading")
    return bytes(body)


def _refusal(shown: str, r: aiohttp.ClientResponse, body: bytes, expect: int, token: str | None) -> str:
    """(What the server echoes loses the token before it is cut short: a cut token is no longer found.)"""
    reason = f" {one_line(r.reason or '', 40)}" if r.reason else ""
    why = _WHY.get(r.status, "a server error" if r.status >= 500 else f"expected {expect}" if r.status < 300 else "")
    if r.status == 429 and r.headers.get("Retry-After"):
        why += f", retry after {one_line(r.headers['Retry-After'], 40)}"
    if 300 <= r.status < 400:
        where = one_line(redact(r.headers.get("Location", "nowhere"), token), _SHOWN)
        return f"{shown} answered {r.status}{reason} redirecting to {where}: not followed (give that address as --url)"
    text = body.decode("utf-8", errors="replace")
    try:
        doc = json.loads(text)
        detail = str(doc["error"]) if isinstance(doc, dict) and "error" in doc else text
    except (ValueError, RecursionError):
        detail = text
    detail = one_line(redact(detail, token), _SHOWN)
    return f"{shown} answered {r.status}{reason}" + (f" ({why})" if why else "") + (f": {detail}" if detail else "")


def _json(shown: str, r: aiohttp.ClientResponse, body: bytes) -> Any:
    if r.content_type != "application/json" and not r.content_type.endswith("+json"):
        kind = one_line(r.content_type or "no Content-Type", 60)
        raise ApiError(f"{shown} answered {r.status} with {kind}, not the daemon's JSON: is --url the daemon?")
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise ApiError(f"{shown} answered {r.status} with bytes that are not UTF-8") from None
    except RecursionError:
        raise ApiError(f"{shown} answered {r.status} with JSON nested too deep") from None
    except ValueError as e:
        raise ApiError(f"{shown} answered {r.status} with broken JSON: {one_line(str(e), 100)}") from None


def _redacted(doc: Any, token: str | None) -> Any:
    """The parsed answer with the token removed from every string in it (keys too), before the caller cuts
    any of them short. Iterative: JSON as deep as `json.loads` takes needs no recursion here."""
    if not token:
        return doc
    if isinstance(doc, str):
        return redact(doc, token)
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            items = [(redact(k, token), v) for k, v in node.items()]
            node.clear()
            node.update((k, redact(v, token) if isinstance(v, str) else v) for k, v in items)
            stack.extend(v for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            node[:] = [redact(v, token) if isinstance(v, str) else v for v in node]
            stack.extend(v for v in node if isinstance(v, dict | list))
    return doc


def redact(text: str, token: str | None) -> str:
    """`text` without the token (also as JSON would escape it)."""
    if token:
        for form in {token, json.dumps(token)[1:-1]}:
            text = text.replace(form, "***")
    return text


__all__ = ["DEFAULT_TIMEOUT", "MAX_BODY", "TIMEOUT_HELP", "ApiError", "base_url", "call", "positive_seconds", "redact"]
