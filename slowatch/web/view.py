"""The read-only view of the daemon that web handlers get (keeps the web layer testable alone)."""

from __future__ import annotations

from typing import Protocol

from aiohttp import web
from prometheus_client import CollectorRegistry

from slowatch.cluster import ClusterView
from slowatch.config.schema import Config
from slowatch.models import ProbeResult
from slowatch.slo.snapshot import Snapshot
from slowatch.store import Store


class DaemonView(Protocol):
    @property
    def config(self) -> Config: ...

    @property
    def registry(self) -> CollectorRegistry: ...

    @property
    def cluster(self) -> ClusterView:
        """The full config, this instance's part of it (`config`) and the consumers partial here."""
        ...

    @property
    def store(self) -> Store: ...

    @property
    def latest(self) -> dict[str, ProbeResult]: ...

    def readiness(self) -> list[str]:
        """Reasons the daemon is not ready; empty when ready."""
        ...

    def slo_view(self) -> list[dict[str, object]]:
        """The current SLO snapshot as JSON-ready dicts, one per (consumer, SLO)."""
        ...

    def now(self) -> float:
        """Wall-clock unix seconds from the daemon's Clock."""
        ...

    def slo_snapshot(self) -> Snapshot:
        """The engine's current immutable Snapshot (safe to hand to the store's reader thread)."""
        ...

    def alerts_view(self) -> list[dict[str, object]]:
        """Firing alerts as JSON-ready dicts, oldest first (`suppressed`: silenced or in maintenance)."""
        ...

    def sinks_view(self) -> list[dict[str, object]]:
        """Each sink's delivery state as JSON-ready dicts (AlertService.sinks_view)."""
        ...

    def config_status(self) -> dict[str, object]:
        """The config file, the SHA-256 of the running config's and how the last reload ended (with its problems)."""
        ...


VIEW: web.AppKey[DaemonView] = web.AppKey("view", DaemonView)

__all__ = ["VIEW", "DaemonView"]
