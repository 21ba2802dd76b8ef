"""How each command loads its config: strictly, or with stand-ins for the secrets it never uses.

`run`, `check`, `probe`, `test-sink` and `demo` send requests with the config's secrets (or, for `check`, vouch
for the file `run` will load): there every `${VAR}` must be set. The others read the database or the config
and use no secret: `report`, `alerts`, `gate --config`, `shard`, `generate ...`, and the writers of the
database `silence`, `correct` and `annotate --config` (a silence, a correction or an annotation holds no
secret). For those an unset variable in a secret-typed field (a token, a sink URL, a header value, a password)
gets a stand-in (config/stand_ins.py) and is listed once on stderr,

    not set, not needed by `report`: CHECKOUT_TOKEN, SLACK_URL

so that `slowatch report` runs on a laptop copy of the production config without the production secrets. An
unset variable anywhere else (an endpoint's URL, a database path) is still an error, with file, line and field.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from slowatch.errors import ConfigError

if TYPE_CHECKING:  # `--help` and `check` load no more than they need
    from slowatch.config import Config
    from slowatch.config.parts import Unpacker

NEEDS_NO_SECRETS = frozenset(
    {"report", "alerts", "gate", "shard", "generate", "silence", "correct", "annotate"}
)  # fmt: skip
"""The commands that load their config with stand-ins for unset secrets (see the module docstring)."""


def load_or_report(path: str, unpacker: Unpacker | None = None, *, command: str | None = None) -> Config | None:
    """The config at `path`, or None once its problems are printed. `command` names the command loading it:
    one of NEEDS_NO_SECRETS loads with stand-ins and says which variables it did without; any other (or None)
    loads strictly."""
    from slowatch.config.isolated import load_isolated

    stand_ins = command in NEEDS_NO_SECRETS
    try:
        config = load_isolated(path, unpacker=unpacker, stand_ins=stand_ins)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{path}: {len(exc.problems)} error(s)", file=sys.stderr)
        return None
    if config.unset_secrets:
        print(f"not set, not needed by `{command}`: {', '.join(config.unset_secrets)}", file=sys.stderr)
    return config


__all__ = ["NEEDS_NO_SECRETS", "load_or_report"]
