"""Keep secrets out of logs, API answers and metrics."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from slowatch.config.endpoints import Endpoint


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
    query = "&".join(
        f"{pair.split('=', 1)[0]}=redacted" if "=" in pair else pair for pair in parts.query.split("&") if pair
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def describe_target(ep: Endpoint) -> str:
    """What an endpoint points at, safe to show anyone."""
    url = getattr(ep, "url", None)
    if isinstance(url, str):
        return redact_url(url)
    query = getattr(ep, "query", None)
    if isinstance(query, str):
        record = getattr(ep, "record_type", "A")
        server = getattr(ep, "nameserver", None)
        return f"{query} {record}" + (f" @{server}" if server else "")
    host, port = getattr(ep, "host", None), getattr(ep, "port", None)
    if host is not None:
        return f"{host}:{port}" if port is not None else str(host)
    return ep.kind


__all__ = ["describe_target", "redact_url"]
