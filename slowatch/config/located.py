"""Where a config path is written, for warnings: `slowatch check`'s findings that are not errors, located like one.

A config that loads is parsed without positions (loader.py: ~300 MB less at 100,000 endpoints); a warning about
a part of it is located by reading the file again and parsing it with them, only when there is one to locate.
Anything that keeps that second reading from working (the file changed meanwhile, became unreadable) leaves the
warning with the file name and field path only: never an error of its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from slowatch.config.loader import format_path
from slowatch.config.source import read_config_bytes
from slowatch.config.yamldoc import Mark, Path
from slowatch.config.yamlnodes import YamlProblem, parse
from slowatch.errors import ConfigError, ConfigProblem


def located(filename: str, findings: Iterable[tuple[Path, str]]) -> list[ConfigProblem]:
    """Each `(path, message)` of the config file `filename` as a ConfigProblem (`file:line:col path: message`), at
    the key of `path` (a section such as `sinks.chat`) or, when not a mapping key, its value."""
    findings = list(findings)
    if not findings:
        return []
    keys: dict[Path, Mark] = {}
    values: dict[Path, Mark] = {}
    try:
        doc = parse(read_config_bytes(filename).decode("utf-8-sig"), os.environ, stand_ins=True)
        keys, values = doc.keys, doc.values
    except (ConfigError, YamlProblem, UnicodeDecodeError):
        pass
    out = []
    for path, message in findings:
        mark = keys.get(path) or values.get(path)
        line, column = (mark.line, mark.column) if mark else (None, None)
        out.append(ConfigProblem(filename, line, column, format_path(path), message))
    return out


__all__ = ["located"]
