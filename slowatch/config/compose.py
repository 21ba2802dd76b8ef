"""YAML text -> node graph, keeping where each alias was *used* (not only where its anchor is).

Two composers build the same graph (an `Alias` node at each `*name`; the fast one's nodes are `Light`):

- the fast one reads libyaml's event stream (`yaml.CSafeLoader`: C scanner and parser) and builds
  the nodes here, in a loop (no recursion, so no depth can crash it);
- the pure-Python one is PyYAML's SafeLoader composer. It is the reference: whenever the fast one
  meets anything unusual (any error, a nesting deeper than `FAST_DEPTH`, a byte-order mark inside
  the text, no libyaml), the text is composed again by the pure one, so every error message,
  location and "nested too deeply" stays exactly what it always was.

libyaml's marks are 0-based lines and columns counted in characters, like PyYAML's, and the
resolver (plain scalar -> tag) is PyYAML's own in both: tests/config/test_compose.py checks that
both composers give the same data and the same line:column for every key, value and list item.
"""

from __future__ import annotations

from typing import Any

import yaml

FAST_DEPTH = 64
"""Deeper documents are left to the pure composer (which reports "nested too deeply")."""

MAX_VALUES = 12_000_000
"""The most nodes (keys, values, list items, aliases) a document may be composed into. A 100,000-endpoint
config holds ~1.3 M written as benchmarks/run.py writes it, ~5.6 M with labels, headers and two body checks on
each endpoint (47 MiB: 5 M refused it; loaded whole: 29 s, 2.0 GB); a 50 MB file of one flow list
(`x: [a,a,...]`, 25 M values) took over 6 GB before the loader ran out of memory (then loaded it again
in-process): it is refused at the limit after ~1.9 GB. Each node costs ~160-240 B while composing."""


class TooManyValues(Exception):
    """The document holds more than `limit` nodes; `mark` is where the first one past the limit starts."""

    def __init__(self, limit: int, mark: Any) -> None:
        super().__init__(f"the document holds more than {limit:,} values (is this the right file?)")
        self.limit, self.mark = limit, mark


_CLoader: Any = getattr(yaml, "CSafeLoader", None)


class Light:
    """A node of the fast composer: its tag, value and where it starts (libyaml's mark), in slots. A
    `yaml.Node` keeps an instance dict and an end mark too: ~510 B per scalar against ~140, so at 100,000
    endpoints (~1.3 M nodes) the graph was ~480 MB larger at the peak of a load. Read like a yaml.Node
    (`SCALAR`, `SEQUENCE`, `MAPPING` hold both kinds for isinstance)."""

    __slots__ = ("start_mark", "tag", "value")

    def __init__(self, tag: str, value: Any, start_mark: Any) -> None:
        self.tag, self.value, self.start_mark = tag, value, start_mark


class LightScalar(Light):
    __slots__ = ()


class LightSequence(Light):
    __slots__ = ()


class LightMapping(Light):
    __slots__ = ()


Node = yaml.Node | Light
SCALAR = (yaml.ScalarNode, LightScalar)
SEQUENCE = (yaml.SequenceNode, LightSequence)
MAPPING = (yaml.MappingNode, LightMapping)


class Alias(yaml.Node):
    """Where an alias (`*name`) was used; PyYAML's composer would hand back the target node itself."""

    id = "alias"

    def __init__(self, target: Node, start_mark: Any, end_mark: Any) -> None:
        super().__init__(target.tag, target.value, start_mark, end_mark)
        self.target = target


class _PureLoader(yaml.SafeLoader):
    def __init__(self, stream: str, max_values: int = MAX_VALUES) -> None:
        super().__init__(stream)
        self.left = max_values
        self.max_values = max_values

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self.left -= 1
        if self.left < 0:
            raise TooManyValues(self.max_values, self.peek_event().start_mark)  # type: ignore[no-untyped-call]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]  # untyped in types-PyYAML
            target = super().compose_node(parent, index)
            assert target is not None
            return Alias(target, event.start_mark, event.end_mark)
        return super().compose_node(parent, index)


class _Fallback(Exception):
    """The fast composer declines: compose with the pure one."""


def compose_pure(text: str, max_values: int = MAX_VALUES) -> yaml.Node | None:
    """PyYAML's pure-Python composer (raises its YAMLErrors, RecursionError when too deep, or TooManyValues)."""
    loader = _PureLoader(text, max_values)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def compose_stream(text: str, max_values: int = MAX_VALUES) -> list[yaml.Node]:
    """Every document of a multi-document stream (`---`), by the pure composer; empty ones are skipped.

    Raises what `compose_pure` raises (`max_values` counts the nodes of all documents).
    """
    loader = _PureLoader(text, max_values)
    try:
        nodes = []
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                nodes.append(node)
        return nodes
    finally:
        loader.dispose()


def _compose_fast(text: str, max_values: int = MAX_VALUES) -> tuple[Node | None, bool]:
    """The node graph from libyaml's events, as `compose_pure` builds it, and whether it has
    aliases; raises _Fallback."""
    loader = _CLoader(text)
    resolve, get = loader.resolve, loader.get_event
    ScalarNode, SequenceNode, MappingNode = yaml.ScalarNode, yaml.SequenceNode, yaml.MappingNode  # (for resolve)
    ScalarEvent, AliasEvent = yaml.ScalarEvent, yaml.AliasEvent
    SeqStart, MapStart = yaml.SequenceStartEvent, yaml.MappingStartEvent
    SeqEnd, MapEnd = yaml.SequenceEndEvent, yaml.MappingEndEvent
    anchors: dict[str, Node] = {}
    aliases = False
    # The open collections, innermost last; for the innermost: its items, whether it is a sequence,
    # and a mapping's key waiting for its value.
    stack: list[tuple[Node, list[Any], bool, Node | None]] = []
    items: list[Any] = []
    in_seq = True
    key: Node | None = None
    root: Node | None = None
    left = max_values
    try:
        if type(get()) is not yaml.StreamStartEvent:
            raise _Fallback
        event = get()
        if type(event) is yaml.StreamEndEvent:
            return None, False
        if type(event) is not yaml.DocumentStartEvent:
            raise _Fallback
        while True:
            event = get()
            cls = type(event)
            node: Node
            if cls is ScalarEvent:
                tag = event.tag
                if tag is None or tag == "!":
                    tag = resolve(ScalarNode, event.value, event.implicit)
                node = LightScalar(tag, event.value, event.start_mark)
            elif cls is SeqEnd or cls is MapEnd:
                if key is not None or not stack:
                    raise _Fallback  # a key without a value: the parser never emits that
                node, items, in_seq, key = stack.pop()
                if not stack:
                    root = node
                    break
                continue
            elif cls is AliasEvent:
                if event.anchor not in anchors:
                    raise _Fallback  # undefined alias: the pure composer words the error
                node = Alias(anchors[event.anchor], event.start_mark, event.end_mark)
                aliases = True
            elif cls is SeqStart or cls is MapStart:
                kind = SequenceNode if cls is SeqStart else MappingNode
                tag = event.tag
                if tag is None or tag == "!":
                    tag = resolve(kind, None, event.implicit)
                node = (LightSequence if cls is SeqStart else LightMapping)(tag, [], event.start_mark)
            else:
                raise _Fallback
            left -= 1
            if left < 0:
                raise TooManyValues(max_values, event.start_mark)
            anchor = getattr(event, "anchor", None)
            if anchor is not None and cls is not AliasEvent:
                if anchor in anchors:
                    raise _Fallback  # duplicate anchor
                anchors[anchor] = node
            if stack:
                if in_seq:
                    items.append(node)
                elif key is None:
                    key = node
                else:
                    items.append((key, node))
                    key = None
            if cls is SeqStart or cls is MapStart:
                if len(stack) >= FAST_DEPTH:
                    raise _Fallback
                stack.append((node, items, in_seq, key))
                items, in_seq, key = node.value, cls is SeqStart, None
            elif not stack:
                root = node
                break
        if type(get()) is not yaml.DocumentEndEvent or type(get()) is not yaml.StreamEndEvent:
            raise _Fallback  # a second document: the pure composer words the error
        return root, aliases
    except yaml.YAMLError:
        raise _Fallback from None
    finally:
        loader.dispose()


def compose(text: str, max_values: int = MAX_VALUES) -> tuple[Node | None, bool]:
    """The node graph of the single document in `text` (None when empty), and whether it may hold
    aliases (always True from the pure composer).

    Raises what `compose_pure` raises: yaml.YAMLError on bad YAML, RecursionError when too deep,
    TooManyValues beyond `max_values` nodes (from either composer: the pure one is not tried again).
    """
    if _CLoader is not None and "\ufeff" not in text:
        try:
            return _compose_fast(text, max_values)
        except (_Fallback, UnicodeError):
            pass
    return compose_pure(text, max_values), True


__all__ = [
    "FAST_DEPTH", "MAPPING", "MAX_VALUES", "SCALAR", "SEQUENCE", "Alias", "Light", "LightMapping", "LightScalar",
    "LightSequence", "Node", "TooManyValues", "compose", "compose_pure", "compose_stream",
]  # fmt: skip
