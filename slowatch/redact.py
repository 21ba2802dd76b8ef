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
from urllib.parse import urlsplit, urlunsplit

from slowatch.config.concealed import Concealed, concealed_of
from slowatch.config.endpoints import Endpoint
from slowatch.models import ProbeResult


def _redact_query(query: str) -> str:
    return "&".join(f"{pair.split('=', 1)[0]}=redacted" if "=" in pair else pair for pair in query.split("&") if pair)


def redact_url(url: str) -> str:
    """Drop credentials and query values: `https://u:p@h/x?token=s` -> `https://h/x?token=redacted`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    if ":" in (parts.hostname or ""):
        netloc = f"[{parts.hostname}]" + (f":{parts.port}" if parts.port is not None else "")
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


def describe_target(ep: Endpoint) -> str:
    """What an endpoint points at, safe to show anyone: interpolated fields as written (`${NAME}`)."""
    concealed = concealed_of(ep)
    written = concealed.templates if concealed is not None else {}

    def field(name: str) -> str | None:
        if name in written:
            return written[name]
        value = getattr(ep, name, None)
        if value is None:
            return None
        if name == "url":
            value = redact_url(value)
        return str(value) if concealed is None else concealed.scrub(str(value))

    url = field("url")
    if url is not None:
        return redact_written_url(url) if "url" in written else url
    query = field("query")
    if query is not None:
        server = field("nameserver")
        return f"{query} {field('record_type')}" + (f" @{server}" if server else "")
    host = field("host")
    if host is not None:
        port = field("port")
        return f"{host}:{port}" if port is not None else host
    return ep.kind


def conceal_result(result: ProbeResult, concealed: Concealed) -> ProbeResult:
    """`result` with the endpoint's interpolated values replaced by their `${NAME}` in the message and
    the final URL (a DNS error names the host, a redirect's final URL carries the path)."""
    message = concealed.scrub(result.message)
    final_url = concealed.scrub(result.final_url) if result.final_url else result.final_url
    if message == result.message and final_url == result.final_url:
        return result
    return replace(result, message=message, final_url=final_url)


__all__ = ["conceal_result", "describe_target", "redact_url", "redact_written_url"]
