"""Stand-ins for unset secrets, for the commands that never use a secret (`report`, `alerts`, `gate`, ...).

An SRE running `slowatch report` with a laptop copy of the production config has no Slack webhook URL, API
token or operator token in the environment, and the report uses none of them. Loaded with `stand_ins=True`
(config/loader.py), a value naming an unset `${VAR}` (without a default) is decided once the whole document is
built:

- in a secret-typed field (a SecretStr: tokens, sink URLs, header values, passwords; `typewalk.secret_paths`),
  the whole value becomes a stand-in, `STAND_IN` numbered per value: an `http://...invalid/` URL of at least
  16 characters, so that it passes every secret field's checks (a usable URL, a token's length, a header
  value) and, were it ever sent, would go nowhere (`.invalid` never resolves; RFC 2606);
- anywhere else (a URL, a host, a port, a name), it is the usual located error: the command needs that value.

The names given stand-ins are kept on the Config (`Config.unset_secrets`): the command line lists them once,
the compiled cache keys such a Config apart from the real one (cache.py), and the daemon refuses to run one.
`run`, `check`, `probe`, `test-sink` and `demo` load strictly: there an unset variable is always an error.
"""

from __future__ import annotations

from typing import Any

from slowatch.config import typewalk
from slowatch.config.interpolate import unset_error
from slowatch.config.schema import Config
from slowatch.config.yamldoc import Document, Path
from slowatch.errors import ConfigError, ConfigProblem

STAND_IN = "http://slowatch-stand-in-{n}.invalid/unset"
"""What an unset secret reads as; `n` differs per value (two tokens must never be equal: that is an error)."""


def put_stand_ins(doc: Document) -> tuple[str, ...]:
    """Decide every value of `doc.unset` (see the module docstring): a stand-in in `doc.data`, or a problem in
    `doc.problems`. Returns the variables given stand-ins, sorted; `doc.unset` is emptied."""
    if not doc.unset:
        return ()
    secret = typewalk.secret_paths(Config, doc.data)  # (a walk of the data: only when some variable is unset)
    names: set[str] = set()
    for n, (path, (mark, unset)) in enumerate(sorted(doc.unset.items(), key=lambda item: item[1][0])):
        if path in secret and _replace(doc.data, path, STAND_IN.format(n=n)):
            names.update(unset)
        else:
            for name in unset:
                doc.problem(path, mark, unset_error(name), poison=True)
    doc.unset.clear()
    return tuple(sorted(names))


def refuse_stand_ins(config: Config, file: str) -> None:
    """ConfigError when `config` holds stand-ins: such a Config must never run (a daemon sending alerts to
    `http://slowatch-stand-in-0.invalid/` and taking a stand-in as an operator token)."""
    if config.unset_secrets:
        raise ConfigError([ConfigProblem(file, None, None, "", unset_error(n)) for n in config.unset_secrets])


def _replace(data: Any, path: Path, value: str) -> bool:
    """Put `value` at `path` in `data`; False when nothing is there (then the variable is reported as unset)."""
    node, found = data, bool(path)
    for key in path[:-1]:
        found, node = typewalk.child(node, key)
        if not found:
            return False
    if found and typewalk.child(node, path[-1])[0]:
        node[path[-1]] = value
        return True
    return False


__all__ = ["STAND_IN", "put_stand_ins", "refuse_stand_ins"]
