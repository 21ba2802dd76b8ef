"""The exception tree. Probe failures are never exceptions: they are `ProbeResult` values.

SlowatchError
 ├── ConfigError          the config file is invalid; carries every located problem
 ├── StoreError           the database cannot be opened, migrated or written
 └── SinkError            an alert sink failed (kept for the alerting layer)
      └── PermanentSinkError   the sink rejected the message for good (e.g. 404 no_service)
"""

from __future__ import annotations

from dataclasses import dataclass


class SlowatchError(Exception):
    """Base of every error slowatch raises on purpose."""


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One located config problem: `file:line:col path: message`."""

    file: str
    line: int | None
    column: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where} {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(SlowatchError):
    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class StoreError(SlowatchError):
    pass


class SinkError(SlowatchError):
    pass


class PermanentSinkError(SinkError):
    pass


__all__ = ["ConfigError", "ConfigProblem", "PermanentSinkError", "SinkError", "SlowatchError", "StoreError"]
