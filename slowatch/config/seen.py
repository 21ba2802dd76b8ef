"""The config a cache last worked from, held by weak reference.

A value worked out from one config (an access table, a dependency graph, rendered rules) is kept until the config
changes; configs are immutable, so identity is enough. A strong reference there kept a replaced config, endpoints
and all (~70 MB at 100,000 endpoints), until the next request for that value came, perhaps never: a daemon that
reloads for months must let each replaced config go (benchmarks/README.md, session 13)."""

from __future__ import annotations

import weakref

from slowatch.config.schema import Config


class LastSeen:
    """Which config a cached value was worked out from, without keeping that config alive."""

    __slots__ = ("_ref",)

    def __init__(self) -> None:
        self._ref: weakref.ref[Config] | None = None

    def __call__(self, config: Config) -> bool:
        """`config` is the one last `seen` (and still alive)."""
        return self._ref is not None and self._ref() is config

    def seen(self, config: Config) -> None:
        self._ref = weakref.ref(config)


__all__ = ["LastSeen"]
