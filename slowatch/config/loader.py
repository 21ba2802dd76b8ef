"""Load one YAML file into a frozen, validated Config, or raise ConfigError listing every problem.

Stages: YAML text -> located plain data (`yamlnodes`), -> `Config.model_validate` (every field
error), -> the semantic checks in `checks.CHECKS` (on the whole config, or, when some fields are
invalid, on the valid rest). Each problem is
reported as `file:line:col path: message`, sorted by position. Values that are secret-typed
(SecretStr) or came from `${...}` are never echoed (nor as repr escapes them inside a longer quoted
string); a quoted value longer than LONG_QUOTE characters is shortened (`'aaaa…aa' (5000 characters)`).
"""

from __future__ import annotations

import gc
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path as FsPath
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from slowatch.config import booleans, messages, typewalk
from slowatch.config.concealed import conceal_endpoints
from slowatch.config.schema import Config
from slowatch.config.semantic import check_the_rest, run_checks
from slowatch.config.share import share_equal_parts
from slowatch.config.source import read_config_bytes
from slowatch.config.stand_ins import put_stand_ins
from slowatch.config.yamldoc import Document, Mark, Path
from slowatch.config.yamlnodes import YamlProblem, parse
from slowatch.errors import ConfigError, ConfigProblem

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
HIDDEN = "<hidden>"
MIN_SCRUB = 6
"""Secrets at least this long are hidden from every message wherever they appear; shorter ones
(`json`, `1`) would garble unrelated text, so they are hidden in problems about their own value."""


def format_path(path: Iterable[str | int]) -> str:
    """`("endpoints", 1, "headers", "X-Token")` -> `endpoints[1].headers.X-Token`."""
    out = ""
    for key in path:
        if isinstance(key, int):
            out += f"[{key}]"
        elif len(key) > LONG_QUOTE:  # (`? key` has no length limit in YAML: a 1 MB key made a 1 MB line)
            out += f"[{_shorten(repr(key))}]"
        elif _PLAIN_KEY.fullmatch(key):
            out += f".{key}" if out else key
        else:
            out += f"[{key!r}]"
    return out


LONG_QUOTE = 100
"""Quoted values in a message longer than this many characters are shortened (`_shorten`)."""
_QUOTED = re.compile(rf"'(?:[^'\\\n]|\\.){{{LONG_QUOTE},}}'|\"(?:[^\"\\\n]|\\.){{{LONG_QUOTE},}}\"")
_VALUE = re.compile(r"""(?:(?<!\w)|(?=.(?:\W|$)))(?:'(?:[^'\\\n]|\\.)*+'?|"(?:[^"\\\n]|\\.)*+"?)""")
"""A quoted value as repr writes it, from its opening quote to its closing one (or, unclosed, to the line's end);
a quote inside a word (`slowatch's`) opens none."""


def _shorten(message: str) -> str:
    """`'aaaa…aa' (100000 characters)` for each quoted value longer than LONG_QUOTE: a 1 MB value rejected
    was echoed whole, a 1 MB line in check's output and the daemon's log.

    One pass: each value is consumed whole, so the text between two values is never taken for one, and a
    message full of quotes that never close costs its length, not its length squared."""

    def cut(match: re.Match[str]) -> str:
        quoted = match.group(0)
        if len(quoted) < LONG_QUOTE + 2 or not _QUOTED.fullmatch(quoted):
            return quoted  # short, or not closed
        return f"{quoted[:41]}…{quoted[-11:]} ({len(quoted) - 2} characters)"

    return _VALUE.sub(cut, message) if len(message) > LONG_QUOTE else message


def _escaped(secret: str) -> set[str]:
    """`secret` as repr writes it inside a longer quoted string (`'checkout/a\\nb'`), in either quote style."""
    core = "".join(c if c in "'\"" else repr(c)[1:-1] for c in secret)
    return {core, core.replace("'", "\\'")} - {secret}


def _scrub(message: str, secrets: Iterable[str], *, min_bare: int) -> str:
    """Hide each secret quoted (`'s3cret'`) and, when at least `min_bare` long, as a bare word, also as
    repr escapes it inside a longer quoted string."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret.strip():
            message = message.replace(repr(secret), HIDDEN)
            if len(secret) >= min_bare:
                for form in (secret, *sorted(_escaped(secret), key=len, reverse=True)):
                    message = re.sub(rf"(?<![A-Za-z0-9]){re.escape(form)}(?![A-Za-z0-9])", HIDDEN, message)
    return message


class _Report:
    """Turns paths into located, secret-free ConfigProblems."""

    def __init__(self, filename: str, doc: Document) -> None:
        self.filename = filename
        self.doc = doc
        self.problems: list[ConfigProblem] = []
        self._seen: set[ConfigProblem] = set()

    @cached_property
    def secret_paths(self) -> set[Path]:
        """Worked out on the first problem (a walk of the whole document: ~1.4 s at 100,000 endpoints)."""
        return typewalk.secret_paths(Config, self.doc.data)

    @cached_property
    def secrets(self) -> set[str]:
        secrets = set(self.doc.secrets)
        for path in self.secret_paths:
            found, value = self.value_at(path)
            if found and not isinstance(value, dict | list) and value is not None:
                secrets.add(value if isinstance(value, str) else self.doc.source.get(path, str(value)))
        return secrets

    def value_at(self, path: Path) -> tuple[bool, Any]:
        node: Any = self.doc.data
        for key in path:
            found, node = typewalk.child(node, key)
            if not found:
                return False, None
        return True, node

    def hidden(self, path: Path) -> bool:
        return path in self.doc.interpolated or path in self.secret_paths

    def got(self, path: Path) -> str | None:
        """The value at `path` quoted for a message, or None if it must not be shown."""
        found, value = self.value_at(path)
        if not found or (self.hidden(path) and not isinstance(value, dict | list | None)):
            return None
        return messages.shown(value, self.doc.source.get(path))

    def fields(self, path: Path) -> list[str]:
        return typewalk.field_names(typewalk.types_at(Config, self.doc.data, path))

    def resolve(self, loc: Iterable[str | int], *, keep_leaf: bool) -> tuple[Path, Path, int | None]:
        """(path to show, deepest path present in the data, index of the first loc key not in the data).

        Keys absent from the data (union tags, union member names) are dropped, except a last key
        naming a field of the model there (`keep_leaf`): a missing field or a default filled in.
        """
        keys = list(loc)
        shown: list[str | int] = []
        found: list[str | int] = []
        dropped: int | None = None
        node: Any = self.doc.data
        for i, key in enumerate(keys):
            present, child = typewalk.child(node, key)
            if present:
                node = child
                shown.append(key)
                found.append(key)
            elif keep_leaf and i == len(keys) - 1 and isinstance(node, dict) and key in self.fields(tuple(found)):
                shown.append(key)
            elif dropped is None:
                dropped = i
        return tuple(shown), tuple(found), dropped

    def mark(self, path: Path, *, key: bool = False) -> Mark | None:
        """Where `path` is written: the key for unknown fields, collections and empty values, else
        the value itself."""
        while True:
            _, value = self.value_at(path)
            if path in self.doc.keys and (key or isinstance(value, dict | list | None)):
                return self.doc.keys[path]
            if path in self.doc.values:
                return self.doc.values[path]
            if not path:
                return None
            path = path[:-1]

    def add(self, shown: Path, found: Path, message: str, *, mark: Mark | None = None, key: bool = False) -> None:
        """Record a problem; `key` locates it at the key (unknown fields), else at the value."""
        if mark is None and not key and any(found[: len(p)] == p for p in self.doc.poisoned):
            return  # the value was already reported (e.g. an unset variable) and was swapped for an empty stand-in
        if self.hidden(found):
            _, value = self.value_at(found)
            source = self.doc.source.get(found)
            message = _scrub(message, [v for v in (value, source) if isinstance(v, str)], min_bare=3)
        message = _shorten(_scrub(message, (s for s in self.secrets if len(s) >= MIN_SCRUB), min_bare=MIN_SCRUB))
        where = mark or self.mark(found, key=key)
        problem = ConfigProblem(
            self.filename,
            where.line if where else None,
            where.column if where else None,
            format_path(shown),
            message,
        )
        if problem not in self._seen:
            self._seen.add(problem)
            self.problems.append(problem)

    def sorted(self) -> list[ConfigProblem]:
        return sorted(self.problems, key=lambda p: (p.line or 0, p.column or 0))


def _validation_problems(report: _Report, errors: list[ErrorDetails]) -> None:
    resolved = []
    for error in errors:
        shown, found, dropped = report.resolve(error["loc"], keep_leaf=True)
        resolved.append((error, shown, found, dropped))
    # A plain (non-discriminated) union reports every alternative: keep those that got past the
    # type check (`consumers[0].endpoints[0].foo: unknown field`), else merge them into one message.
    members: dict[tuple[Any, ...], set[Any]] = {}
    deep: set[tuple[Any, ...]] = set()
    for error, _, _, dropped in resolved:
        if dropped is not None:
            group = tuple(error["loc"][:dropped])
            members.setdefault(group, set()).add(error["loc"][dropped])
            if len(error["loc"]) > dropped + 1:
                deep.add(group)
    merged: dict[Path, list[str]] = {}
    singles: list[tuple[ErrorDetails, Path, Path]] = []
    for error, shown, found, dropped in resolved:
        alternative = dropped is not None and len(members[tuple(error["loc"][:dropped])]) > 1
        if not alternative or len(error["loc"]) > (dropped or 0) + 1:
            singles.append((error, shown, found))
        elif tuple(error["loc"][:dropped]) not in deep:
            merged.setdefault(found, []).append(messages.describe(error, None))
    for found, parts in merged.items():
        form = typewalk.mapping_form(typewalk.types_at(Config, report.doc.data, found))
        report.add(found, found, messages.combine(parts, report.got(found), form))
    # Values filled in from `defaults` are validated there too: report each such problem once.
    direct = {messages.describe(e, None) for e, s, f, _ in resolved if s == f}
    for error, shown, found in singles:
        injected = (shown != found and error["type"] != "missing") or _default_alert(report, error["loc"])
        if injected and messages.describe(error, None) in direct:
            continue
        message = _describe(report, error, shown, found)
        key = error["type"] == "extra_forbidden"
        if error["type"].startswith("union_tag_"):
            shown = (*shown, str(error.get("ctx", {}).get("discriminator", "kind")).strip("'"))
            if report.value_at(shown)[0]:
                found = shown
        report.add(shown, found, message, key=key)


def _default_alert(report: _Report, loc: Iterable[str | int]) -> bool:
    """Whether `loc` is in an endpoint's `alerts` at a key the endpoint does not set: a value merged in from
    `defaults.alerts` (`Config._apply_defaults`), whose own error is reported there."""
    keys = list(loc)
    if len(keys) < 4 or keys[0] != "endpoints":
        return False
    _, entry = report.value_at(tuple(keys[:2]))
    if not isinstance(entry, dict):
        return False
    rest = keys[3:] if keys[2] == entry.get("kind") else keys[2:]  # (the union tag)
    if len(rest) < 2 or rest[0] != "alerts":
        return False
    own = entry.get("alerts")
    return not (isinstance(own, dict) and rest[1] in own)


def _describe(report: _Report, error: ErrorDetails, shown: Path, found: Path) -> str:
    got = report.got(found) if shown == found else None
    if error["type"] == "string_type" and got is not None:
        value = report.value_at(found)[1]
        if isinstance(value, bool | int | float):  # `country: NO`, `version: 1.10`: YAML's reading, not the text
            reads = ("true" if value else "false") if isinstance(value, bool) else "a number"
            return f"must be a string (got {got}, which YAML reads as {reads}: write it in quotes, '{got}')"
    if error["type"] == "extra_forbidden":
        return messages.describe(error, got, fields=report.fields(found[:-1]))
    if error["type"].startswith("union_tag_"):
        discriminator = str(error.get("ctx", {}).get("discriminator", "kind")).strip("'")
        tags = typewalk.tags(typewalk.types_at(Config, report.doc.data, found), discriminator)
        return messages.describe(error, report.got((*found, discriminator)), tags=tags)
    return messages.describe(error, got)


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside (restored after, if it was on).

    Loading builds millions of objects that all stay alive (nodes, data, models): every collection
    scans them in vain. At 100,000 endpoints that tripled the CPU time of composing the YAML, and
    even of `yaml.load` itself (benchmarks/README.md). Nothing made while loading is cyclic garbage
    worth collecting early."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_text(
    text: str, filename: str = "<string>", *, env: Mapping[str, str] | None = None, stand_ins: bool = False
) -> Config:
    """Parse, interpolate, validate and check one YAML document. Raises ConfigError.

    `stand_ins` (for commands that use no secret): an unset variable in a secret-typed field gets a stand-in
    value instead of being an error, and is named in the Config's `unset_secrets` (config/stand_ins.py)."""
    with gc_paused():
        return _load_text(text, filename, os.environ if env is None else env, stand_ins)


def _load_text(text: str, filename: str, env: Mapping[str, str], stand_ins: bool) -> Config:
    """A valid document is loaded without the parser's per-value positions (`yamlnodes.parse`,
    `locate=False`: ~300 MB less at the peak for 100,000 endpoints); one with any problem is parsed
    again with them, and every problem is reported with its line and column."""
    config = _load_once(text, filename, env, locate=False, stand_ins=stand_ins)
    return config if config is not None else _located(text, filename, env, stand_ins)


def _located(text: str, filename: str, env: Mapping[str, str], stand_ins: bool) -> Config:
    config = _load_once(text, filename, env, locate=True, stand_ins=stand_ins)
    assert config is not None  # (a located load raises ConfigError for any problem)
    return config


def _load_once(
    text: str, filename: str, env: Mapping[str, str], *, locate: bool, stand_ins: bool = False
) -> Config | None:
    """The Config, or ConfigError; without `locate`, None for any problem (the caller loads again, locating)."""
    try:
        doc = parse(text, env, locate=locate, stand_ins=stand_ins)
    except YamlProblem as exc:
        line, column = (exc.mark.line, exc.mark.column) if exc.mark else (None, None)
        raise ConfigError([ConfigProblem(filename, line, column, "", exc.message)]) from None
    unset_secrets = put_stand_ins(doc)
    if doc.problems and not locate:
        return None
    report = _Report(filename, doc)
    for path, mark, message in doc.problems:
        report.add(path, path, message, mark=mark)
    try:
        config = Config.model_validate(doc.data)
    except ValidationError as exc:
        if not locate:
            return None
        errors = exc.errors(include_url=False, include_input=False)
        _validation_problems(report, errors)
        check_the_rest(report, errors)
    else:
        for path in booleans.numbers_from_booleans(config, doc.bools):
            if not locate:
                return None
            report.add(path, path, booleans.message(report.got(path)))
        run_checks(report, config, lambda path: path)
    if report.problems:
        if not locate:
            return None
        raise ConfigError(report.sorted())
    conceal_endpoints(config.endpoints, doc.interpolated, doc.source, env)
    share_equal_parts(config.endpoints)
    config.mark_stand_ins(unset_secrets)
    return config


def load(path: str | FsPath, *, env: Mapping[str, str] | None = None, stand_ins: bool = False) -> Config:
    """Read `path` (UTF-8; a regular file of at most `source.MAX_CONFIG_BYTES`) and load it like
    `load_text`. Raises ConfigError."""
    return load_bytes(read_config_bytes(path), str(path), env=env, stand_ins=stand_ins)


def load_bytes(raw: bytes, filename: str, *, env: Mapping[str, str] | None = None, stand_ins: bool = False) -> Config:
    """Decode `raw` (UTF-8, an optional BOM) and load it like `load_text`. Raises ConfigError."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        problem = ConfigProblem(filename, line, column, "", "not UTF-8 text")
        raise ConfigError([problem]) from None
    return load_text(text, filename, env=env, stand_ins=stand_ins)


__all__ = ["format_path", "gc_paused", "load", "load_bytes", "load_text"]
