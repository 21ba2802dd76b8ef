"""The config a cache last worked from, held by weak reference.

A value worked out from one config (an access table, a dependency graph, rendered rules) is kept until the config
changes; configs are immutable, so identity is enough. A strong reference there kept a replaced config, endpoints
and all (~70 MB at 100,000 endpoints), until the next request for that value came, perhaps never: a daemon that
reloads for months must let each replaced config go (benchmarks/README.md, session 13)."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

from slowatch.config.schema import Config

T = TypeVar("T")


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


class PerConfig(Generic[T]):
    """`make(config)` for the config last asked about, worked out again when the config changes (a reload)."""

    __slots__ = ("_config", "_make", "_value")

    def __init__(self, make: Callable[[Config], T]) -> None:
        self._make = make
        self._config = LastSeen()
        self._value: T | None = None

    def of(self, config: Config) -> T:
        if not self._config(config) or self._value is None:
            self._value = self._make(config)
            self._config.seen(config)
        return self._value


__all__ = ["LastSeen", "PerConfig"]
