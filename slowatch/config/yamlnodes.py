"""YAML text -> plain Python data, plus where every key, value and list item was written.

Parsing composes a node graph only (libyaml's parser when available, see `compose`): we build
dicts, lists and scalars ourselves from it, so no tag can construct an arbitrary object. Aliases
are measured before they are expanded (an "anchor bomb" is refused in linear time), merge keys
(`<<: *defaults`) are honoured, duplicate keys are reported, and `${VAR}` interpolation happens
on string scalars. A bool, int or float scalar that does not construct (an explicit `!!int abc`, more
digits than int() takes) is a located problem, never an exception.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import yaml
from yaml.constructor import SafeConstructor

from slowatch.config.compose import (
    MAPPING,
    MAX_VALUES,
    SCALAR,
    SEQUENCE,
    Alias,
    Node,
    TooManyValues,
    compose,
    compose_stream,
)
from slowatch.config.interpolate import interpolate, unset_error

Path = tuple[str | int, ...]

MAX_NODES = 100_000
"""The most nodes a document may hold once aliases are expanded."""

_T = "tag:yaml.org,2002:"
_STR, _NULL, _BOOL, _INT, _FLOAT = _T + "str", _T + "null", _T + "bool", _T + "int", _T + "float"
_SEQ, _MAP, _MERGE, _TIMESTAMP = _T + "seq", _T + "map", _T + "merge", _T + "timestamp"


class Mark(NamedTuple):
    """A position in the file, 1-based. (A NamedTuple: ~150,000 are made for 10,000 endpoints.)"""

    line: int
    column: int

    @classmethod
    def of(cls, mark: yaml.Mark) -> Mark:
        return cls(mark.line + 1, mark.column + 1)


class YamlProblem(Exception):
    """The document cannot be turned into data at all (syntax error, alias bomb, ...)."""

    def __init__(self, message: str, mark: Mark | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


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


def _deref(node: Node) -> Node:
    return node.target if isinstance(node, Alias) else node


def _children(node: Node) -> Iterator[Node]:
    if isinstance(node, SEQUENCE):
        yield from node.value
    elif isinstance(node, MAPPING):
        for key, value in node.value:
            yield key
            yield value


def _check_expansion(root: Node, limit: int) -> None:
    """Refuse documents whose aliases expand beyond `limit` nodes, without expanding them."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        active.add(id(node))
        total = 1
        for child in _children(node):
            if isinstance(child, Alias) and id(child.target) in active:
                raise YamlProblem("an alias refers to a node that contains it", Mark.of(child.start_mark))
            total += size(_deref(child))
        active.discard(id(node))
        sizes[id(node)] = total
        return total

    count = 0

    def walk(node: Node) -> None:
        nonlocal count
        if isinstance(node, Alias):
            count += size(node.target)
            if count > limit:
                message = f"aliases expand the document beyond {limit} values (an alias bomb?)"
                raise YamlProblem(message, Mark.of(node.start_mark))
            return
        count += 1
        for child in _children(node):
            walk(child)

    walk(root)


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


class _Builder:
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
        node = _deref(node)
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
        target = _deref(node)
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
        target = _deref(node)
        sources = list(target.value) if isinstance(target, SEQUENCE) else [node]
        for source in sources:
            mapping = _deref(source)
            if not isinstance(mapping, MAPPING):
                message = "a merge key (<<) needs a mapping or a list of mappings"
                self.doc.problem(path, Mark.of(source.start_mark), message)
                continue
            scratch = Document({})
            built = _Builder(scratch, self.env, self.locate, self.stand_ins).mapping(mapping, path)
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


def _syntax_problem(exc: yaml.YAMLError, text: str) -> YamlProblem:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        message = f"invalid YAML: {exc.problem or exc.context}"
        if exc.problem == "found character '\\t' that cannot start any token":
            message += " (indent with spaces, not tabs)"
        if exc.context and exc.problem and exc.problem.startswith("but "):
            message = f"invalid YAML: {exc.context}, {exc.problem}"
        elif exc.context and exc.problem and exc.context_mark is not None:
            message += f" ({exc.context} on line {exc.context_mark.line + 1})"
        return YamlProblem(message, Mark.of(mark) if mark is not None else None)
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        return YamlProblem(f"invalid YAML: unacceptable character #x{exc.character:04x}", Mark(line, column))
    return YamlProblem("invalid YAML")


TOO_DEEP = 100
"""Nesting levels past which "nested too deeply" is located (a config needs about ten)."""


def _too_deep(text: str) -> YamlProblem:
    """ "nested too deeply", at the first collection opened `TOO_DEEP` levels down: PyYAML's event parser
    keeps its own stack (no recursion), so it walks any depth the composer could not. libyaml's is tried
    first (fast); it refuses more than 1,000 flow levels itself, and that refusal has a place too."""
    for loader in (getattr(yaml, "CSafeLoader", None), yaml.SafeLoader):
        if loader is None:
            continue
        depth = 0
        try:
            for event in yaml.parse(text, Loader=loader):
                if isinstance(event, yaml.CollectionStartEvent):
                    depth += 1
                    if depth > TOO_DEEP and (at := event.start_mark) is not None:
                        return YamlProblem("invalid YAML: nested too deeply", Mark(at.line + 1, at.column + 1))
                elif isinstance(event, yaml.CollectionEndEvent):
                    depth -= 1
        except yaml.MarkedYAMLError as exc:
            if "nesting depth" in str(exc.problem) and exc.problem_mark is not None:
                return YamlProblem("invalid YAML: nested too deeply", Mark.of(exc.problem_mark))
        except yaml.YAMLError:
            pass
    return YamlProblem("invalid YAML: nested too deeply")


def _too_many(exc: TooManyValues) -> YamlProblem:
    return YamlProblem(str(exc), Mark.of(exc.mark) if exc.mark is not None else None)


def parse(
    text: str,
    env: Mapping[str, str],
    *,
    max_nodes: int = MAX_NODES,
    max_values: int = MAX_VALUES,
    locate: bool = True,
    stand_ins: bool = False,
) -> Document:
    """Compose and build one YAML document whose top level is a mapping. Raises YamlProblem.

    `max_nodes` bounds the document once aliases are expanded, `max_values` the nodes written in it.

    `locate=False` keeps no position or source text per value (only the source of interpolated values): at
    100,000 endpoints those records were ~300 MB at the peak of a load. A document with problems then says
    only *that* there are some (the loader parses it again, locating, to report them).

    `stand_ins`: a value naming an unset variable is not a problem yet but recorded in `Document.unset`, for
    config/stand_ins.py to decide (a secret-typed field gets a stand-in, any other is the usual error)."""
    try:
        root, aliases = compose(text, max_values)
    except TooManyValues as exc:
        raise _too_many(exc) from None
    except yaml.YAMLError as exc:
        raise _syntax_problem(exc, text) from None
    except RecursionError:
        raise _too_deep(text) from None
    if root is None or (isinstance(root, SCALAR) and root.tag == _NULL):
        raise YamlProblem("the file is empty: expected a mapping with server, defaults, endpoints, ...")
    if not isinstance(root, MAPPING):
        kind = "a list" if isinstance(root, SEQUENCE) else "a single value"
        message = f"the top level must be a mapping with server, defaults, endpoints, ... (got {kind})"
        raise YamlProblem(message, Mark.of(root.start_mark))
    doc = Document({})
    try:
        if aliases:
            _check_expansion(root, max_nodes)
        doc.data = _Builder(doc, env, locate, stand_ins).value(root, ())
    except RecursionError:
        raise _too_deep(text) from None
    return doc


def parse_stream(text: str, *, max_nodes: int = MAX_NODES, max_values: int = MAX_VALUES) -> list[Document]:
    """Every document of a multi-document YAML stream, built like `parse` builds one but without
    `${...}` interpolation (the text is data, not config). A document may be any value; empty
    documents are skipped. Raises YamlProblem."""
    try:
        roots = compose_stream(text, max_values)
    except TooManyValues as exc:
        raise _too_many(exc) from None
    except yaml.YAMLError as exc:
        raise _syntax_problem(exc, text) from None
    except RecursionError:
        raise _too_deep(text) from None
    docs = []
    for root in roots:
        if isinstance(root, SCALAR) and root.tag == _NULL:
            continue
        doc = Document({})
        try:
            _check_expansion(root, max_nodes)
            doc.data = _Builder(doc, None).value(root, ())
        except RecursionError:
            raise _too_deep(text) from None
        docs.append(doc)
    return docs


__all__ = ["MAX_NODES", "MAX_VALUES", "Document", "Mark", "Path", "YamlProblem", "parse", "parse_stream"]
