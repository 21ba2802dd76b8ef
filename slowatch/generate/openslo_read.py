"""Reading OpenSLO files for `slowatch import openslo`: every document validated and located.

Each document keeps where each of its values was written (config.yamlnodes), so a problem found
later, while mapping, still reads `file.yaml:12:5 SLO checkout-availability spec.objectives[1]: ...`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from pydantic import ValidationError

from slowatch.config import messages
from slowatch.config.loader import format_path
from slowatch.config.yamldoc import Document, Mark, Path
from slowatch.config.yamlnodes import YamlProblem, parse_stream
from slowatch.generate.openslo_schema import AnyDoc, parse_document


@dataclass(frozen=True, slots=True)
class Problem:
    """A located import problem, or a note about something left out on purpose."""

    file: str
    mark: Mark | None
    what: str  # "SLO checkout-availability"
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file + (f":{self.mark.line}:{self.mark.column}" if self.mark else "")
        subject = " ".join(p for p in (self.what, self.path) if p)
        return f"{where} {subject}: {self.message}" if subject else f"{where}: {self.message}"

    @property
    def key(self) -> tuple[str, int, int]:
        return self.file, self.mark.line if self.mark else 0, self.mark.column if self.mark else 0


@dataclass(slots=True)
class Source:
    """One OpenSLO document: its file, located data and validated model."""

    file: str
    doc: Document
    model: AnyDoc

    @property
    def what(self) -> str:
        return f"{self.model.kind} {self.model.metadata.name}"

    def mark(self, path: Path) -> Mark | None:
        return locate(self.doc, path)

    def problem(self, path: Path, message: str) -> Problem:
        return Problem(self.file, self.mark(path), self.what, format_path(path), message)

    def annotations(self) -> dict[str, str]:
        return dict(self.model.metadata.annotations or {})


def locate(doc: Document, path: Path) -> Mark | None:
    """Where `path` (or the nearest value above it) is written."""
    while True:
        if path in doc.values:
            return doc.values[path]
        if not path:
            return None
        path = path[:-1]


def _present(data: Any, loc: Iterable[str | int]) -> Path:
    """The part of a pydantic error location that exists in the data (union member names dropped)."""
    out: list[str | int] = []
    node = data
    for key in loc:
        in_dict = isinstance(node, dict) and isinstance(key, str) and key in node
        in_list = isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node)
        if not (in_dict or in_list):
            continue
        node = node[key]
        out.append(key)
    return tuple(out)


@dataclass(slots=True)
class Reader:
    sources: list[Source] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def read(self, path: str) -> None:
        try:
            text = FsPath(path).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not readable UTF-8 text"
            self.problems.append(Problem(path, None, "", "", f"cannot read the file: {reason}"))
            return
        self.read_text(text, path)

    def read_text(self, text: str, file: str) -> None:
        try:
            docs = parse_stream(text)
        except YamlProblem as exc:
            self.problems.append(Problem(file, exc.mark, "", "", exc.message))
            return
        for i, doc in enumerate(docs):
            self._document(file, i, doc)

    def _document(self, file: str, index: int, doc: Document) -> None:
        what = f"document {index + 1}"
        for path, mark, message in doc.problems:
            self.problems.append(Problem(file, mark, what, format_path(path), message))
        data: Any = doc.data
        if not isinstance(data, dict):
            self.problems.append(Problem(file, doc.values.get(()), what, "", "must be a mapping (an OpenSLO object)"))
            return
        name = data.get("metadata", {}).get("name") if isinstance(data.get("metadata"), dict) else None
        if isinstance(data.get("kind"), str) and isinstance(name, str):
            what = f"{data['kind']} {name}"
        try:
            model = parse_document(data)
        except ValueError as exc:
            errors = exc.errors(include_url=False) if isinstance(exc, ValidationError) else None
            if errors is None:
                self.problems.append(
                    Problem(file, doc.values.get(("kind",), doc.values.get(())), what, "kind", str(exc))
                )
                return
            for error in errors:
                path = _present(data, error["loc"])
                key = error["type"] in ("extra_forbidden", "missing")
                at: Mark | None = doc.keys.get(path) if key else None
                if error["type"] == "missing":
                    path = (*path, *[k for k in error["loc"][len(path) :] if isinstance(k, str)][-1:])
                if at is None:
                    at = locate(doc, path)
                message = messages.describe(error, None)
                self.problems.append(Problem(file, at, what, format_path(path), message))
            return
        self.sources.append(Source(file, doc, model))

    def named(self, kind: str) -> dict[str, Source]:
        """The documents of one kind by name (the first wins; duplicates are reported)."""
        out: dict[str, Source] = {}
        for s in self.sources:
            if s.model.kind == kind:
                if s.model.metadata.name in out:
                    first = out[s.model.metadata.name]
                    where = f"{first.file}:{m.line}" if (m := first.mark(())) else first.file
                    self.problems.append(s.problem(("metadata", "name"), f"duplicate {kind} name (first in {where})"))
                    continue
                out[s.model.metadata.name] = s
        return out


__all__ = ["Problem", "Reader", "Source"]
