"""YAML text -> a `Document`: plain Python data, plus where every key, value and list item was written.

Parsing composes a node graph only (libyaml's parser when available, see `compose`), which
config/yamldoc.py builds into dicts, lists and scalars, so no tag can construct an arbitrary object.
Here is what is refused before or while building, each a located `YamlProblem`: syntax errors,
nesting too deep, more values than `MAX_VALUES`, and aliases that expand beyond `MAX_NODES` (an
"anchor bomb" is measured before anything is expanded, in linear time).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import yaml

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
from slowatch.config.yamldoc import NULL_TAG, Builder, Document, Mark, deref

MAX_NODES = 100_000
"""The most nodes a document may hold once aliases are expanded."""


class YamlProblem(Exception):
    """The document cannot be turned into data at all (syntax error, alias bomb, ...)."""

    def __init__(self, message: str, mark: Mark | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


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
            total += size(deref(child))
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
    if root is None or (isinstance(root, SCALAR) and root.tag == NULL_TAG):
        raise YamlProblem("the file is empty: expected a mapping with server, defaults, endpoints, ...")
    if not isinstance(root, MAPPING):
        kind = "a list" if isinstance(root, SEQUENCE) else "a single value"
        message = f"the top level must be a mapping with server, defaults, endpoints, ... (got {kind})"
        raise YamlProblem(message, Mark.of(root.start_mark))
    doc = Document({})
    try:
        if aliases:
            _check_expansion(root, max_nodes)
        doc.data = Builder(doc, env, locate, stand_ins).value(root, ())
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
        if isinstance(root, SCALAR) and root.tag == NULL_TAG:
            continue
        doc = Document({})
        try:
            _check_expansion(root, max_nodes)
            doc.data = Builder(doc, None).value(root, ())
        except RecursionError:
            raise _too_deep(text) from None
        docs.append(doc)
    return docs


__all__ = ["MAX_NODES", "MAX_VALUES", "YamlProblem", "parse", "parse_stream"]
