"""What the command line's flags turn into: bounded integers for argparse, and `run`/`demo`'s overrides
of the config's `server` section (`--listen`, `--db`, `--log-format`), validated as the config's own fields."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # `--help` and `check` load no more than they need
    from pydantic_core import ErrorDetails

    from slowatch.config import Config


def int_in(low: int, high: int, what: str) -> Callable[[str], int]:
    """argparse type: an integer from `low` to `high` (an out-of-range one ended in an OverflowError traceback)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text[:40]!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {what} from {low} to {high} (got {text[:40]})")
        return value

    return parse


def override(config: Config, listen: str | None, db: str | None, log_format: str | None) -> Config:
    from pydantic import ValidationError

    changes: dict[str, object] = {}
    if listen:
        changes["listen"] = listen
    if db:
        changes["database"] = db
    if log_format:
        changes["log_format"] = log_format
    if not changes:
        return config
    try:  # the flags' fields alone: re-validating the whole section with every default written out refused a
        # valid config whose defaults are not valid as explicit values (`retention.rollups: 30d`, hourly unset)
        checked = type(config.server).model_validate(changes)
    except ValidationError as exc:  # only the overridden fields can be wrong: the config itself was valid
        raise ValueError("; ".join(flag_problem(e) for e in exc.errors(include_url=False))) from None
    server = config.server.model_copy(update={field: getattr(checked, field) for field in changes})
    return config.model_copy(update={"server": server})


def check_db(db: str | None) -> None:
    """`--db` names a file SQLite can open (`override` checks only what the field's validators do, which look at no
    file system): ValueError in the flag's words."""
    from slowatch.config.schema import database_problem

    if db and (problem := database_problem(db)) is not None:
        raise ValueError(f"--db: {problem}")


def db_argument(value: str) -> str:
    """An argparse `type` for `--db`/`--database` of the commands that take it straight to the store (report,
    gate, correct, annotate): a usage error for a path that cannot be the SQLite file (a directory, a NUL byte,
    nothing), as `run` and `alerts` refuse it, instead of the store's "unable to open database file"."""
    from slowatch.config.schema import database_problem

    if "\0" in value or not value.strip():
        raise argparse.ArgumentTypeError(f"must name the SQLite file (got {value!r})")
    if (problem := database_problem(value)) is not None:
        raise argparse.ArgumentTypeError(problem)
    return value


FLAGS = {"listen": "--listen", "database": "--db", "log_format": "--log-format"}


def flag_problem(error: ErrorDetails) -> str:
    field = str(error["loc"][0]) if error["loc"] else ""
    message = error["msg"].removeprefix("Value error, ")
    return f"{FLAGS.get(field, field)}: {message}"


__all__ = ["FLAGS", "check_db", "db_argument", "flag_problem", "int_in", "override"]
