"""Keep secrets out of logs, API answers and metrics.

Two kinds of secret reach what slowatch shows: credentials and query values in URLs (`redact_url`),
and values the config took from the environment (`${...}`) into an endpoint's target. For the latter
the loader attaches a `Concealed` to the endpoint (config/concealed.py): targets are shown as written
(`http://h/json/${PATH_SECRET}`) and probe results have each value replaced by its `${NAME}`
(`conceal_result`, applied where a result is made, so the store, alerts, the API and logs only ever
see the concealed text).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from slowatch.config.concealed import Concealed, concealed_of
from slowatch.models import ProbeResult


def join_host_port(host: str, port: object) -> str:
    """`host:port`, with an IPv6 address in brackets as in a URL (`[::1]:8080`, never `::1:8080`)."""
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def _redact_query(query: str) -> str:
    return "&".join(f"{pair.split('=', 1)[0]}=redacted" if "=" in pair else pair for pair in query.split("&") if pair)


def redact_url(url: str) -> str:
    """Drop credentials and query values: `https://u:p@h/x?token=s` -> `https://h/x?token=redacted`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    try:
        port = parts.port
    except ValueError:  # out of range or not a number (a redirect's Location): shown as written, no credentials
        netloc = parts.netloc.rpartition("@")[2]
    else:
        netloc = parts.hostname or ""
        if ":" in netloc:
            netloc = f"[{netloc}]"
        if port is not None:
            netloc = f"{netloc}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, _redact_query(parts.query), ""))


def redact_written_url(url: str) -> str:
    """`redact_url` for a URL as written in the config (`http://${HOST}:${PORT}/x?k=${V}`): the host
    and port are kept as text (not parsed, not lowercased)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, _redact_query(parts.query), ""))


class Shown:
    """An endpoint's fields as they may be shown to anyone: a field the config interpolated appears as
    written (`${NAME}`), other text has interpolated values scrubbed, URLs lose credentials and query
    values. Each kind's `target` (probes/kind.py) builds its description from these. `path` is a field
    path as the loader records it: `url`, `host`, `steps.0.url`."""

    __slots__ = ("concealed", "endpoint", "written")

    def __init__(self, endpoint: Any) -> None:
        self.endpoint = endpoint
        self.concealed = concealed_of(endpoint)
        self.written = self.concealed.templates if self.concealed is not None else {}

    def __call__(self, path: str) -> str | None:
        if path in self.written:
            return self.written[path]
        value: Any = self.endpoint
        for key in path.split("."):
            value = value[int(key)] if key.isdigit() else getattr(value, key, None)
            if value is None:
                return None
        text = str(value)
        return text if self.concealed is None else self.concealed.scrub(text)

    def url(self, path: str = "url") -> str | None:
        if path in self.written:
            return redact_written_url(self.written[path])
        value = self.endpoint
        for key in path.split("."):
            value = value[int(key)] if key.isdigit() else getattr(value, key, None)
        if value is None:
            return None
        shown = redact_url(str(value))
        return shown if self.concealed is None else self.concealed.scrub(shown)

    def host_port(self, host: str = "host", port: str = "port") -> str:
        shown_host, shown_port = self(host) or "", self(port)
        return shown_host if shown_port is None else join_host_port(shown_host, shown_port)


def conceal_result(result: ProbeResult, concealed: Concealed) -> ProbeResult:
    """`result` with the endpoint's interpolated values replaced by their `${NAME}` in the message and
    the final URL (a DNS error names the host, a redirect's final URL carries the path)."""
    message = concealed.scrub(result.message)
    final_url = concealed.scrub(result.final_url) if result.final_url else result.final_url
    if message == result.message and final_url == result.final_url:
        return result
    return replace(result, message=message, final_url=final_url)


__all__ = ["Shown", "conceal_result", "join_host_port", "redact_url", "redact_written_url"]
