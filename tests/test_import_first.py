"""Every module of slowatch can be the first one a fresh interpreter imports.

`python -c 'import slowatch.config.grpc'` once failed with a circular import (grpc.py imported endpoints.py,
which imported grpc.py back for its union): the suite imports modules in one order and never saw it.

Importing each of ~220 modules in its own interpreter costs ~20 CPU-s, so the check is split along what can
go wrong. A circular import can only fail when the import enters an import cycle; how it fails depends only
on which member is entered first (modules outside the cycle that are already loaded are complete, and those
the cycle imports cannot import back into it). So: every module is imported once (a plain import error
anywhere), and every member of every cycle of module-level imports is imported first, each in a child forked
from an interpreter that has the third-party libraries loaded but no `slowatch` module; the child loads what
the cycle imports from outside itself, then the member. `__main__` modules
are left out: importing one runs it.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "slowatch"

DRIVER = r"""
import importlib, json, os, sys, traceback

everything, cycles = json.loads(sys.argv[1]), json.loads(sys.argv[2])
failed = {}
for name in everything:  # loads the third-party libraries once; any import error is reported
    try:
        importlib.import_module(name)
    except Exception:
        failed[name] = traceback.format_exc(limit=-3)
for name in [m for m in sys.modules if m == "slowatch" or m.startswith("slowatch.")]:
    del sys.modules[name]


def child(run):
    # run() in a forked child: what it returns (a JSON text) or its traceback comes back through a pipe
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            os.write(write, json.dumps(run()).encode())
            os._exit(0)
        except BaseException:
            os.write(write, json.dumps(traceback.format_exc(limit=-3)).encode())
            os._exit(1)
    os.close(write)
    return pid, read


def wait(pid, read):
    with os.fdopen(read) as pipe:
        text = pipe.read()
    _, status = os.waitpid(pid, 0)
    return status, json.loads(text) if text else f"exit status {status}"


def first(name):
    importlib.import_module(name)


def cycle(members, below):
    # loads what the cycle imports (none of it imports back into it), then each member first, in a child
    for module in below:
        importlib.import_module(module)
    errors = {}
    for name in members:
        status, error = wait(*child(lambda: first(name)))
        if status:
            errors[name + " (imported first)"] = error
    return errors


def collect(pid, read, what):
    status, result = wait(pid, read)
    failed.update(result if not status else {what: result})


running = []
for members, below in cycles:
    if len(running) >= (os.cpu_count() or 2):
        collect(*running.pop(0))
    running.append((*child(lambda: cycle(members, below)), "what the cycle of %s imports" % members[0]))
for pid, read, what in running:
    collect(pid, read, what)
print(json.dumps(failed))
"""


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    found = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
    return {name: path for name, path in found.items() if not name.endswith(".__main__")}


def import_time_edges(name: str, path: Path, known: set[str]) -> set[str]:
    """The slowatch modules `name` imports while it is being imported: not inside a function, not for
    type checking. `import a.b.c` and `from a.b import c` import a, a.b and a.b.c (when c is a module)."""
    named: list[str] = []

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
                continue
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                    base = ".".join([*package[: len(package) - node.level + 1], *([base] if base else [])])
                named.extend([base, *(f"{base}.{alias.name}" for alias in node.names)])
            elif isinstance(node, ast.Import):
                named.extend(alias.name for alias in node.names)
            for block in ("body", "orelse", "finalbody"):
                visit(getattr(node, block, []))
            for handler in getattr(node, "handlers", []):
                visit(handler.body)

    visit(ast.parse(path.read_text()).body)
    parts = [n.split(".") for n in [*named, name.rpartition(".")[0]]]  # a module imports its package first
    return {".".join(p[:i]) for p in parts for i in range(1, len(p) + 1)} & known - {name}


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(component)
    return found


def below(members: set[str], graph: dict[str, set[str]]) -> list[str]:
    """What a cycle imports outside itself, deepest first: none of it can import back into the cycle."""
    order: list[str] = []
    seen = set(members)

    def walk(node: str) -> None:
        for nxt in sorted(graph[node]):
            if nxt not in seen:
                seen.add(nxt)
                walk(nxt)
                order.append(nxt)

    for member in sorted(members):
        walk(member)
    return order


def test_the_cycle_finder_sees_a_package_and_its_modules() -> None:
    graph = {"p": {"p.a"}, "p.a": {"p", "p.b"}, "p.b": {"p"}, "q": {"p.a"}}
    assert cycles(graph) == [{"p", "p.a", "p.b"}]


@pytest.mark.timeout(120)
@pytest.mark.slow
def test_every_module_imports_and_every_cycle_member_imports_first() -> None:
    found = modules()
    graph = {name: import_time_edges(name, path, set(found)) for name, path in found.items()}
    found_cycles = cycles(graph)
    assert any("slowatch.store.writer" in c for c in found_cycles)  # the finder works on the real tree
    plan = [(sorted(members), below(members, graph)) for members in found_cycles]
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(sorted(found)), json.dumps(plan)],
        capture_output=True,
        text=True,
        timeout=110,
        cwd=PACKAGE.parent,
    )
    assert proc.returncode == 0, proc.stderr
    failed = json.loads(proc.stdout.strip().splitlines()[-1])
    assert failed == {}, "\n".join(f"{name}:\n{text}" for name, text in failed.items())
