"""Prober worker processes (`server.probe_workers`): scheduling and probing spread over several cores."""

from slowatch.workers.pool import ProberPool, worker_count

__all__ = ["ProberPool", "worker_count"]
