"""`${VAR}`, `${VAR:-default}` and `$$` in config strings.

`${VAR:-default}` uses the default when VAR is unset or empty (as in POSIX shells); `$$` is a literal
`$`; a `$` followed by anything else is kept as written (regexes such as `^ok$` need no escaping).
A default holding another `${...}` (`${A:-${B}}`, which shells expand) is an error, not literal text.
Everything taken from the environment is reported back as a secret so error messages can hide it.
Inside YAML flow collections (`[...]`, `{...}`) quote the string: `[ "${NAME}" ]`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_TOKEN = re.compile(r"\$\$|\$\{([^}]*)\}|\$\{")
_BODY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)

INVALID = "invalid ${...} expression: use ${VAR} or ${VAR:-default}, and $$ for a literal $"
NESTED = "a ${VAR:-default} default cannot hold another ${...}: nested variables are not supported"


@dataclass(slots=True)
class Interpolated:
    """The result of interpolating one string."""

    value: str
    substituted: bool = False
    """True when at least one `${...}` was replaced: the value must then never be echoed."""
    secrets: list[str] = field(default_factory=list)
    """The values read from the environment."""
    stand_ins: list[str] = field(default_factory=list)
    """For each of `secrets`, how it is written in the config (`${NAME}`): what is shown in its place."""
    errors: list[str] = field(default_factory=list)
    """Problems other than unset variables."""
    unset: list[str] = field(default_factory=list)
    """Variables that are unset (or empty) and have no default: each an error (`unset_error`), unless the caller
    puts a stand-in in the place of the whole value (config/stand_ins.py)."""


def unset_error(name: str) -> str:
    return f"environment variable {name} is not set"


def interpolate(text: str, env: Mapping[str, str]) -> Interpolated:
    """Replace every `${...}` and `$$` in `text`; unset variables without a default are listed in `unset`
    (and replaced by nothing)."""
    if "$" not in text:
        return Interpolated(text)
    result = Interpolated("")
    out: list[str] = []
    pos = 0
    for match in _TOKEN.finditer(text):
        out.append(text[pos : match.start()])
        pos = match.end()
        if match.group(0) == "$$":
            out.append("$")
            continue
        result.substituted = True
        body = _BODY.fullmatch(match.group(1) or "")
        if match.group(1) is None or body is None:
            result.errors.append(INVALID)
            continue
        name, default = body.group(1), body.group(2)
        if default is not None and "${" in default:  # (the match ended at the inner `}`: the rest would be text)
            result.errors.append(NESTED)
            continue
        value = env.get(name)
        if value is not None and not _utf8(value):  # os.environ keeps bytes that are not UTF-8 as lone surrogates
            result.errors.append(f"environment variable {name} is not UTF-8 text")
            continue
        if value is not None and (value or default is None):
            result.secrets.append(value)
            result.stand_ins.append(f"${{{name}}}")
            out.append(value)
        elif default is not None:
            out.append(default)
        else:
            result.unset.append(name)
    out.append(text[pos:])
    result.value = "".join(out)
    return result


def _utf8(value: str) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


__all__ = ["INVALID", "NESTED", "Interpolated", "interpolate", "unset_error"]
