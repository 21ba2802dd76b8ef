"""Which `Host` headers the HTTP listener answers: a defence against DNS rebinding.

Without `server.auth`, a daemon on 127.0.0.1 answers whoever reaches the port, and a browser tab on the same
machine reaches it: a page on `http://evil.example:9464/` whose name its owner points at 127.0.0.1 once the
page is loaded is same-origin with the daemon, and reads `/api/v1/...`, the status and consumer pages and
`/metrics` like the operator would. Such a GET carries no `Origin`, and `Sec-Fetch-Site` says `same-origin`
(or is not sent at all over plain http): only `Host`, which the browser fills in from the page's URL, names the
attacker's domain. So such a listener answers only a Host that

- is an IP address (`127.0.0.1:9464`, `[::1]:9464`, the address a reverse proxy or a scraper connects to):
  the page would then be of that address, which an attacker does not control;
- is `localhost` or a name under `.localhost` (RFC 6761: resolved by the machine itself), or this machine's
  host name (`socket.gethostname()`: Debian maps it to 127.0.1.1);
- is the host of `server.external_url`, or one of `server.http.allowed_hosts` (`["*"]`: any, the check off).

Others get `421 Misdirected Request` with a body saying which setting to change (JSON under `/api/`), and one
WARNING line per refused request in the rate-limited refusal log (auth.RefusalLog). `/healthz` and `/readyz`
are always answered (liveness must not depend on how a probe names the host; they reveal no data).

When: without `server.auth` and on a loopback listener (the default, local use), or whenever
`server.http.allowed_hosts` is set. With `server.auth` a rebound page has no token to send; on any other
address without auth, the names people use to reach it are not known (the check is opt-in there: set
`allowed_hosts`). Grafana's `enforce_domain` is the same idea (off by default, it redirects to `domain`);
Prometheus and Alertmanager check no Host and presume anyone who reaches their port may read everything.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from urllib.parse import urlsplit

from aiohttp import web

from slowatch.config.access import is_loopback
from slowatch.config.schema import Config
from slowatch.config.seen import PerConfig
from slowatch.web.auth import OPEN_PATHS, REFUSALS, Handler
from slowatch.web.view import VIEW

ANY = "*"


class KnownHosts:
    """The names one config's listener answers to (None: it answers any Host)."""

    __slots__ = ("names",)

    def __init__(self, config: Config) -> None:
        server = config.server
        allowed = server.http.allowed_hosts
        if ANY in allowed or (not allowed and (server.auth is not None or not is_loopback(server.host))):
            self.names: frozenset[str] | None = None
            return
        names = {_bare(name) for name in allowed}
        names.add(_bare(socket.gethostname()))  # (uname: no lookup)
        if server.external_url:
            names.add(_host(server.external_url))
        self.names = frozenset(names - {""})

    def answers(self, host_header: str | None) -> bool:
        if self.names is None or host_header is None:  # no Host: HTTP/1.0, never a browser
            return True
        host = _host(host_header)
        if host == "localhost" or host.endswith(".localhost") or host in self.names:
            return True
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return False
        return True


def _bare(name: str) -> str:
    return name.strip().lower().removesuffix(".")


def _host(text: str) -> str:
    """The host of a Host header (`name:port`, `[::1]:port`) or of a URL, lower case, without a final dot."""
    try:
        return _bare(urlsplit(text if "://" in text else "//" + text).hostname or "")
    except ValueError:
        return ""


KNOWN_HOSTS: web.AppKey[PerConfig[KnownHosts]] = web.AppKey("known_hosts")
"""The KnownHosts of the config the daemon runs now (worked out again after a reload)."""


@web.middleware
async def known_hosts_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """421 for a Host this listener does not answer to (see the module docstring)."""
    host = request.headers.get("Host")
    if request.path in OPEN_PATHS or request.app[KNOWN_HOSTS].of(request.app[VIEW].config).answers(host):
        return await handler(request)
    request.app[REFUSALS].refused(request, "unknown Host (DNS rebinding?)", level=logging.WARNING)
    shown = _host(host or "")[:100] or "?"
    raise web.HTTPMisdirectedRequest(
        text=f"slowatch does not answer to the host name {shown!r} here: without server.auth it answers only "
        "IP addresses, localhost and the names in server.http.allowed_hosts or server.external_url (a page of "
        "another site could read it through DNS rebinding); behind a reverse proxy that passes its own Host, "
        "add that name to server.http.allowed_hosts"
    )


__all__ = ["KNOWN_HOSTS", "KnownHosts", "known_hosts_only"]
