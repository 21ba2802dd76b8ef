"""The `Document` a YAML text becomes, and the builder that makes it from the node graph.

`Builder` turns composed nodes (config/compose.py) into plain dicts, lists and scalars, recording in the
`Document` where every key, value and list item was written: only the YAML core tags construct (no tag
can build an arbitrary object), merge keys (`<<: *defaults`) are honoured, duplicate keys are reported,
and `${VAR}` interpolation happens on string scalars. A bool, int or float scalar that does not construct
(an explicit `!!int abc`, more digits than int() takes) is a located problem, never an exception.
Parsing, and refusing what cannot be parsed, is config/yamlnodes.py's.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import yaml
from yaml.constructor import SafeConstructor

from slowatch.config.compose import MAPPING, SCALAR, SEQUENCE, Alias, Node
from slowatch.config.interpolate import interpolate, unset_error

Path = tuple[str | int, ...]

_T = "tag:yaml.org,2002:"
_STR, _NULL, _BOOL, _INT, _FLOAT = _T + "str", _T + "null", _T + "bool", _T + "int", _T + "float"
_SEQ, _MAP, _MERGE, _TIMESTAMP = _T + "seq", _T + "map", _T + "merge", _T + "timestamp"
NULL_TAG = _NULL
"""An empty document's (or a `~` scalar's) tag."""


class Mark(NamedTuple):
    """A position in the file, 1-based. (A NamedTuple: ~150,000 are made for 10,000 endpoints.)"""

    line: int
    column: int

    @classmethod
    def of(cls, mark: yaml.Mark) -> Mark:
        return cls(mark.line + 1, mark.column + 1)


@dataclass(slots=True)
class Document:
    data: dict[str, Any]
    values: dict[Path, Mark] = field(default_factory=dict)
    """Where each value (or list item) starts."""
    keys: dict[Path, Mark] = field(default_factory=dict)
    """Where the key of each mapping entry is."""
    source: dict[Path, str] = field(default_factory=dict)
    """The text of each scalar as written (before interpolation)."""
    interpolated: set[Path] = field(default_factory=set)
    """Values that came (partly) from `${...}`: never echo them."""
    secrets: set[str] = field(default_factory=set)
    """Every value read from the environment."""
    problems: list[tuple[Path, Mark, str]] = field(default_factory=list)
    poisoned: set[Path] = field(default_factory=set)
    """Values swapped for an empty stand-in after a reported problem: later errors about them are noise."""
    bools: list[Path] = field(default_factory=list)
    """Where a boolean was built (`on`, `no`, `true`, ...): config/booleans.py finds those that became numbers."""
    unset: dict[Path, tuple[Mark, list[str]]] = field(default_factory=dict)
    """Only when parsed with `stand_ins`: values naming unset variables, not yet reported (config/stand_ins.py)."""

    def problem(self, path: Path, mark: Mark, message: str, *, poison: bool = False) -> None:
        """Record a problem once, even when aliases or merges reach the same text again."""
        if poison:
            self.poisoned.add(path)
        if not any(m == mark and msg == message for _, m, msg in self.problems):
            self.problems.append((path, mark, message))

    def adopt(self, other: Document, under: set[Path]) -> None:
        """Take `other`'s records for the paths below `under` (keys adopted by a merge)."""
        depth = len(next(iter(under))) if under else 0
        self.values.update((p, v) for p, v in other.values.items() if p[:depth] in under)
        self.keys.update((p, v) for p, v in other.keys.items() if p[:depth] in under)
        self.source.update((p, v) for p, v in other.source.items() if p[:depth] in under)
        self.interpolated.update(p for p in other.interpolated if p[:depth] in under)
        self.poisoned.update(p for p in other.poisoned if p[:depth] in under)
        self.bools.extend(p for p in other.bools if p[:depth] in under)
        self.unset.update((p, v) for p, v in other.unset.items() if p[:depth] in under)
        self.secrets.update(other.secrets)
        for path, mark, message in other.problems:
            self.problem(path, mark, message)


def deref(node: Node) -> Node:
    return node.target if isinstance(node, Alias) else node


def _describe_tag(tag: str) -> str:
    return "!!" + tag.removeprefix(_T) if tag.startswith(_T) else tag


_READS = {_BOOL: ("true or false", "bool"), _INT: ("a whole number", "int"), _FLOAT: ("a number", "float")}


def _unreadable(tag: str, text: str) -> str:
    """Why a bool/int/float scalar did not construct: more decimal digits than int() takes
    (sys.get_int_max_str_digits), or an explicit tag on text that is not of its kind."""
    limit = sys.get_int_max_str_digits()
    digits = sum(c.isdigit() for c in text)
    if tag == _INT and 0 < limit < digits:
        return f"a whole number of {digits} digits is too long (at most {limit})"
    what, name = _READS[tag]
    return f"{text!r} is not {what} (tag !!{name})"


class Builder:
    def __init__(
        self, doc: Document, env: Mapping[str, str] | None, locate: bool = True, stand_ins: bool = False
    ) -> None:
        self.doc = doc
        self.env = env
        self.locate = locate
        self.stand_ins = stand_ins
        self.constructor = SafeConstructor()

    def value(self, node: Node, path: Path) -> Any:
        if self.locate:
            self.doc.values[path] = Mark.of(node.start_mark)
        node = deref(node)
        if isinstance(node, SCALAR):
            return self.scalar(node, path)
        if isinstance(node, SEQUENCE) and node.tag == _SEQ:
            return [self.value(item, (*path, i)) for i, item in enumerate(node.value)]
        if isinstance(node, MAPPING) and node.tag == _MAP:
            return self.mapping(node, path)
        return self.unsupported(node, path)

    def unsupported(self, node: Node, path: Path) -> None:
        message = f"unsupported YAML tag {_describe_tag(node.tag)!r}"
        self.doc.problem(path, Mark.of(node.start_mark), message, poison=True)

    def scalar(self, node: Node, path: Path) -> Any:
        text: str = _paired(node.value) if node.tag == _STR else node.value
        if self.locate:
            self.doc.source[path] = text
        if node.tag == _STR:
            if self.env is None:
                return text
            result = interpolate(text, self.env)
            if result.substituted:
                self.doc.source[path] = text  # (also when not locating: conceal.py needs the templates)
                self.doc.interpolated.add(path)
                self.doc.secrets.update(result.secrets)
            for message in result.errors:
                self.doc.problem(path, Mark.of(node.start_mark), message, poison=True)
            if result.unset and self.stand_ins:  # reported, or given a stand-in, once the data is whole
                self.doc.unset[path] = (Mark.of(node.start_mark), result.unset)
            else:
                for name in result.unset:
                    self.doc.problem(path, Mark.of(node.start_mark), unset_error(name), poison=True)
            return result.value
        if node.tag in (_TIMESTAMP,) or (node.tag in (_INT, _FLOAT) and ":" in text):
            return text  # pydantic parses ISO 8601; YAML 1.1 base-60 numbers (10:30) stay text
        if node.tag == _NULL:
            return None
        if node.tag not in (_BOOL, _INT, _FLOAT):
            return self.unsupported(node, path)
        plain = node if isinstance(node, yaml.ScalarNode) else yaml.ScalarNode(node.tag, text)  # (PyYAML's own
        try:  # constructors: they accept only its node class)
            if node.tag == _BOOL:
                self.doc.bools.append(path)
                return self.constructor.construct_yaml_bool(plain)
            if node.tag == _INT:
                return self.constructor.construct_yaml_int(plain)
            return self.constructor.construct_yaml_float(plain)
        except (ValueError, KeyError, IndexError):  # an explicit tag on text it cannot read (`!!int abc`)
            self.doc.problem(path, Mark.of(node.start_mark), _unreadable(node.tag, text), poison=True)
            return None

    def key(self, node: Node, path: Path) -> str | None:
        target = deref(node)
        if isinstance(target, SCALAR):
            text: str = target.value
            return text
        self.doc.problem(path, Mark.of(node.start_mark), "mapping keys must be plain text")
        return None

    def mapping(self, node: Node, path: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        explicit: dict[str, Mark] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                self.merge(value_node, path, out)
                continue
            key = self.key(key_node, path)
            if key is None:
                continue
            if not self.locate:  # (a duplicate is a problem: the loader parses again, locating, to word it)
                if key in out:
                    self.doc.problem((*path, key), Mark.of(key_node.start_mark), "duplicate key")
                out[key] = self.value(value_node, (*path, key))
                continue
            mark = Mark.of(key_node.start_mark)
            if key in explicit:
                message = f"duplicate key {key!r} (first on line {explicit[key].line})"
                self.doc.problem((*path, key), mark, message)
                continue
            explicit[key] = mark
            child = (*path, key)
            self.doc.keys[child] = mark
            out[key] = self.value(value_node, child)
        return out

    def merge(self, node: Node, path: Path, out: dict[str, Any]) -> None:
        """`<<: *a` or `<<: [*a, *b]`: adopt keys not set yet (earlier sources win)."""
        target = deref(node)
        sources = list(target.value) if isinstance(target, SEQUENCE) else [node]
        for source in sources:
            mapping = deref(source)
            if not isinstance(mapping, MAPPING):
                message = "a merge key (<<) needs a mapping or a list of mappings"
                self.doc.problem(path, Mark.of(source.start_mark), message)
                continue
            scratch = Document({})
            built = Builder(scratch, self.env, self.locate, self.stand_ins).mapping(mapping, path)
            adopted = [k for k in built if k not in out]
            for k in adopted:
                out[k] = built[k]
            self.doc.adopt(scratch, {(*path, k) for k in adopted})


def _paired(text: str) -> str:
    """A string with the surrogate pairs of `\\ud83d\\udd25` escapes (JSON's, which is YAML too) joined into
    the character they spell (PyYAML keeps them apart) and lone surrogates as U+FFFD: neither encodes to
    UTF-8, so a page showing the text would fail."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


__all__ = ["NULL_TAG", "Builder", "Document", "Mark", "Path", "deref"]
