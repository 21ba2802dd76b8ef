"""The root of the typed Config tree."""

from __future__ import annotations

import ipaddress
import os
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from slowatch.config.access import AuthConfig
from slowatch.config.alerting import AlertingPolicy, EndpointAlerts, Route, SilenceConfig, SinkConfig
from slowatch.config.cluster import ClusterConfig
from slowatch.config.consumers import ConsumerConfig
from slowatch.config.endpoints import Endpoint
from slowatch.config.maintenance import MaintenanceConfig
from slowatch.config.types import (
    AS_TEXT,
    DAY,
    HOUR,
    MINUTE,
    Interval,
    Model,
    Name,
    Retention,
    Timeout,
    duration_between,
)
from slowatch.durations import format_duration


class RetentionConfig(Model):
    """How long history is kept. Raw results older than `pack_after` (and folded into the rollups) are
    packed into compressed 10-minute blocks (slowatch/store/pack.py); `raw` applies to both forms.

    Rollups are hourly for `hourly`, then merged into one row per endpoint and UTC day
    (slowatch/store/daily.py) and kept `rollups` in all. `hourly` must cover the longest calendar SLO
    window (a quarter: 92 days and an hour), so that an SLO rebuild finds hourly rows for all of it:
    at least 93d, or `rollups` if that is shorter (then nothing is downsampled). Unset, it is 95d or
    `rollups`, whichever is shorter (`hourly_kept`)."""

    raw: Retention = 48 * 3600.0
    rollups: Retention = 400 * 86400.0
    hourly: Retention = 95 * 86400.0
    pack_after: Annotated[float, duration_between(0.0, 10 * 366 * DAY), AS_TEXT] = 15 * 60.0

    @field_validator("hourly")
    @classmethod
    def _hourly(cls, v: float, info: ValidationInfo) -> float:
        rollups = info.data.get("rollups")
        if rollups is None:  # rollups itself was invalid: reported there
            return v
        if v > rollups:
            raise ValueError(f"must not be longer than retention.rollups ({format_duration(rollups)})")
        if v < min(93 * 86400.0, rollups):
            raise ValueError(
                "must be at least 93d (a calendar quarter SLO window, 92 days and "
                "an hour, is rebuilt from hourly rollups), or retention.rollups"
            )
        return v

    @property
    def hourly_kept(self) -> float:
        """Seconds for which rollups stay hourly (older ones are daily); `rollups` means never downsampled."""
        return min(self.hourly, self.rollups)


class MetricsConfig(Model):
    """Shape of /metrics. `endpoint_labels` names endpoint labels copied onto per-endpoint series.

    Per-endpoint detail is opt-in: every line is a series Prometheus keeps (~3-4 KB each), and the duration
    histogram (len(duration_buckets) + 3 series) and the phase gauges (5 per HTTP endpoint) were 19 of the
    ~23 series per HTTP endpoint (185 MB per scrape at 100,000 endpoints; ~30 MB without them).
    """

    duration_buckets: list[float] = Field(
        default_factory=lambda: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
    )
    endpoint_labels: list[str] = Field(default_factory=list)
    histograms: bool = False
    """slowatch_probe_duration_seconds per endpoint (latency also lives in the rollups, the API and latency SLOs)."""
    phases: bool = False
    """slowatch_probe_http_duration_seconds: the last HTTP probe's duration per phase, per endpoint."""

    @field_validator("endpoint_labels")
    @classmethod
    def _labels(cls, v: list[str]) -> list[str]:
        """They become Prometheus label names (`team-name` -> `team_name`): no clashes allowed."""
        reserved = {"endpoint", "kind", "outcome", "phase", "step", "stat", "le"}  # stat, step: kinds' gauges
        seen: set[str] = set()
        for name in v:
            label = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
            label = label if label and not label[0].isdigit() else f"_{label}"
            if label in reserved:
                raise ValueError(f"{name!r} would clash with slowatch's own {label!r} label")
            if label in seen:
                raise ValueError(f"{name!r} is listed twice (as the Prometheus label {label!r})")
            seen.add(label)
        return v

    @field_validator("duration_buckets")
    @classmethod
    def _buckets(cls, v: list[float]) -> list[float]:
        if not v or any(b <= 0 for b in v) or sorted(set(v)) != v:
            raise ValueError("must be positive, increasing bucket bounds in seconds, e.g. [0.1, 0.5, 1]")
        if v[-1] > 3600 or len(v) > 100:
            raise ValueError("must be at most 100 bucket bounds, none above 3600 (seconds)")
        return v


def _allowed_host(name: str) -> str:
    if name != "*" and not re.fullmatch(r"[A-Za-z0-9_]([A-Za-z0-9_.-]{0,251}[A-Za-z0-9_.])?", name):
        raise ValueError(
            f"must be a host name as a browser sends it, without scheme or port (e.g. status.example.com), "
            f"or '*' for any (got {name!r})"
        )
    return name


AllowedHost = Annotated[str, AfterValidator(_allowed_host)]


class HttpConfig(Model):
    """Limits of the HTTP listener against slow and greedy clients (slowatch/web/server.py), and the host names
    it answers to (slowatch/web/hosts.py)."""

    header_timeout: Annotated[float, duration_between(0.0, HOUR, exclusive=True), AS_TEXT] = 10.0
    """Time a client has, from connecting or from its previous response, to send a whole request head;
    idle keep-alive connections close after the same time (behind a load balancer: longer than its idle timeout)."""
    max_connections: Annotated[int, Field(ge=16, le=1_000_000)] = 1024
    """Open connections at most (lowered to fit the open-file limit); one more is answered 503."""
    allowed_hosts: list[AllowedHost] = Field(default_factory=list)
    """Host names answered besides IP addresses, localhost and `external_url`'s host, where the Host header is
    checked (without `auth` on a loopback listener, or whenever this is set); `["*"]`: any (web/hosts.py)."""


class ServerConfig(Model):
    listen: str = "127.0.0.1:9464"
    database: str = "./slowatch.db"
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    max_concurrency: Annotated[int, Field(ge=1, le=100_000)] = 256
    jitter: Annotated[float, Field(ge=0.0, le=0.5)] = 0.1
    probe_workers: Annotated[int, Field(ge=0, le=64)] | Literal["auto"] = "auto"
    """Prober worker processes (slowatch/workers/): 0 probes in the daemon's own event loop; "auto" uses
    one per core (up to 4) once the planned probe rate reaches 100/s and the machine has 2+ cores."""
    event_loop: Literal["auto", "asyncio", "uvloop"] = "auto"
    """"auto": uvloop when installed (~25 % less CPU per probe), else asyncio's own loop (slowatch/loops.py)."""
    shutdown_grace: Annotated[float, duration_between(0.0, 10 * MINUTE), AS_TEXT] = 10.0
    external_url: str | None = None
    log_format: Literal["text", "json"] = "text"
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    http: HttpConfig = Field(default_factory=HttpConfig)
    auth: AuthConfig | None = None
    cluster: ClusterConfig | None = None
    """Shard, replica and location of this instance among several (slowatch/config/cluster.py)."""

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        if split_listen(v) is None:
            raise ValueError(f"must be HOST:PORT or [IPV6]:PORT (got {v!r})")
        return v

    @field_validator("database")
    @classmethod
    def _database(cls, v: str) -> str:
        """Refused here, where the file and line are known, not at start with a bare "embedded null byte" (a
        directory is refused by the loader's checks: `database_problem`, a look at the file system)."""
        if "\0" in v:
            raise ValueError(f"must not contain a NUL byte (got {v!r})")
        if not v.strip():  # SQLite opens "" as a temporary database: the history would be gone at every stop
            raise ValueError("must name a file (empty: SQLite would keep the history in a temporary database)")
        return v

    @property
    def host(self) -> str:
        return _split(self.listen)[0]

    @property
    def port(self) -> int:
        return _split(self.listen)[1]


def database_problem(path: str) -> str | None:
    """Why `path` cannot be the SQLite file: an existing directory (relative to the working directory, as the
    daemon opens it; the store's hard-link check misread one's link count as "21 names (hard links)"). It stats
    the file system: for the loader's checks and the command line, never on the event loop."""
    if os.path.isdir(path):
        return f"is a directory (got {path!r}): name the SQLite file, e.g. {os.path.join(path, 'slowatch.db')!r}"
    return None


def split_listen(listen: str) -> tuple[str, int] | None:
    """`127.0.0.1:9464` -> ("127.0.0.1", 9464), `[::1]:9464` (or `::1:9464`) -> ("::1", 9464); None for anything
    else: a port of other than 0-65535 in ASCII digits, a host left empty (`[]:80` would listen everywhere), or
    brackets or colons that do not hold one IPv6 address (`[::1` and `::1` read as port 1 on the host ':')."""
    host, sep, port = listen.rpartition(":")
    if not (sep and host and port.isascii() and port.isdigit() and int(port) <= 65535):
        return None
    bracketed = host.startswith("[") and host.endswith("]")
    inner = host[1:-1] if bracketed else host
    if ("[" in inner or "]" in inner) or ((bracketed or ":" in inner) and not _ipv6(inner)):
        return None
    return inner, int(port)


def _ipv6(text: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(text), ipaddress.IPv6Address)
    except ValueError:
        return False


def _split(listen: str) -> tuple[str, int]:
    parts = split_listen(listen)
    assert parts is not None  # (validated)
    return parts


DEFAULTED = {"interval": "30s", "timeout": "5s"}
"""Endpoint fields filled from `defaults` when an endpoint does not set them, with the built-in default."""


class Defaults(Model):
    interval: Interval = 30.0
    timeout: Timeout = 5.0
    alerts: EndpointAlerts = Field(default_factory=EndpointAlerts)


class Config(Model):
    server: ServerConfig = Field(default_factory=ServerConfig)
    defaults: Defaults = Field(default_factory=Defaults)
    endpoints: list[Endpoint] = Field(default_factory=list)
    consumers: list[ConsumerConfig] = Field(default_factory=list)
    maintenance: list[MaintenanceConfig] = Field(default_factory=list)
    sinks: dict[Name, SinkConfig] = Field(default_factory=dict)
    routes: list[Route] = Field(default_factory=list)
    alerting: AlertingPolicy = Field(default_factory=AlertingPolicy)
    silences: list[SilenceConfig] = Field(default_factory=list)
    _unset_secrets: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="before")
    @classmethod
    def _apply_defaults(cls, data: Any) -> Any:
        """Copy `defaults.interval`/`defaults.timeout` into endpoints that do not set their own."""
        if not isinstance(data, dict):
            return data
        defaults = data.get("defaults") or {}
        if not isinstance(defaults, dict):  # reported at `defaults`; the endpoints get the built-in values
            defaults = {}
        endpoints = data.get("endpoints")
        if not isinstance(endpoints, list):
            return data
        filled = []
        for ep in endpoints:
            if isinstance(ep, dict):
                ep = dict(ep)
                for key, builtin in DEFAULTED.items():
                    ep.setdefault(key, defaults.get(key, builtin))
                alerts = defaults.get("alerts")
                if isinstance(alerts, dict) and isinstance(ep.get("alerts", {}), dict):
                    ep["alerts"] = {**alerts, **ep.get("alerts", {})}  # endpoint keys win
            filled.append(ep)
        return {**data, "endpoints": filled}

    @property
    def unset_secrets(self) -> tuple[str, ...]:
        """The variables whose secret-typed fields hold stand-ins (config/stand_ins.py): empty for a Config that
        may run. Kept through copies and pickles; a Config with stand-ins never equals one without."""
        return self._unset_secrets

    def mark_stand_ins(self, names: tuple[str, ...]) -> None:
        """Record the loader's stand-ins (the one change a frozen Config takes, right after it is built)."""
        self._unset_secrets = names

    def endpoint(self, name: str) -> Endpoint:
        for ep in self.endpoints:
            if ep.name == name:
                return ep
        raise KeyError(name)


__all__ = ["DEFAULTED", "Config", "Defaults", "MetricsConfig", "RetentionConfig", "ServerConfig"]
