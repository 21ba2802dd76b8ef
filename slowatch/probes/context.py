"""`ProbeContext`: what every probe may use, made once per daemon, prober worker or `slowatch probe` run."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp

from slowatch.clock import Clock
from slowatch.probes.certs import SslContexts

if TYPE_CHECKING:
    from slowatch.probes.http import Prepared


@dataclass(frozen=True, slots=True)
class ProbeContext:
    """What a probe may use: the shared aiohttp session, the clock, and TLS contexts built once.

    Make one per daemon (or per `slowatch probe` run) and share it: `ssl_contexts` is a cache."""

    session: aiohttp.ClientSession
    clock: Clock
    ssl_contexts: SslContexts = field(default_factory=SslContexts)
    http_options: dict[str, Prepared] = field(default_factory=dict)
    """Per endpoint name: request options built once (`http.prepared`); rebuilt when the endpoint changes."""
    http_options_shared: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)
    """Equal request options of different endpoints, kept once (`http.prepared`)."""
    prepared: dict[tuple[str, str], tuple[Any, Any]] = field(default_factory=dict)
    """Other kinds' per-endpoint state built once: (kind, endpoint name) -> (endpoint, state); rebuilt
    when the endpoint object changes (a reload)."""
    _shared_kept: list[int] = field(default_factory=lambda: [0], init=False, repr=False)
    """How many `http_options_shared` entries the last pruning kept."""

    def forget(self, names: Iterable[str]) -> None:
        """After a reload: drop what was built for endpoints no longer probed here (`names`: removed, disabled, or
        moved to another prober worker), and request options no endpoint uses any more. Without this, each
        removed or renamed endpoint kept its cached options (its whole old definition) for the run, and each
        reload that changed headers (a rotated `${TOKEN}`) kept one more shared options dict, secrets included.
        The shared dicts are pruned once they are twice as many as the last pruning kept (at least 64): a
        reload costs O(removed), plus O(endpoints) now and then."""
        gone = set(names)
        for name in gone:
            self.http_options.pop(name, None)
        if gone and self.prepared:
            for key in [k for k in self.prepared if k[1] in gone]:
                del self.prepared[key]
        if len(self.http_options_shared) > max(64, 2 * self._shared_kept[0]):
            used = {id(p.options) for p in self.http_options.values()}
            for key in [k for k, options in self.http_options_shared.items() if id(options) not in used]:
                del self.http_options_shared[key]
            self._shared_kept[0] = len(self.http_options_shared)


__all__ = ["ProbeContext"]
