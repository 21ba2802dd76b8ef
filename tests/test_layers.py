"""The layers import downwards only, and every probe kind is one registry entry."""

from __future__ import annotations

import ast
import re
import typing
from pathlib import Path

from slowatch.config.endpoints import Endpoint
from slowatch.metrics.slots import OUTCOMES
from slowatch.models import Outcome
from slowatch.probes.registry import KINDS
from slowatch.store.blocks import OUTCOME_CODES

PACKAGE = Path(__file__).resolve().parents[1] / "slowatch"
ABOVE_CONFIG = ("slo", "probes", "metrics", "web", "alerting", "store", "workers", "daemon", "cli", "report", "demo")
ABOVE_PROBES = ("slo", "metrics", "web", "alerting", "store", "workers", "daemon", "cli", "report", "demo")


def imports(path: Path) -> set[str]:
    """Every `slowatch.*` module `path` imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("slowatch")}


def offending(where: str, above: tuple[str, ...]) -> dict[str, list[str]]:
    bad: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.glob(where)):
        hits = [m for m in imports(path) if m.partition(".")[2].split(".")[0] in above]  # `slowatch` alone: none
        if hits:
            bad[str(path.relative_to(PACKAGE))] = sorted(hits)
    return bad


def test_config_imports_nothing_above_it() -> None:
    assert offending("config/*.py", ABOVE_CONFIG) == {}


def test_probes_and_redaction_import_nothing_above_them() -> None:
    assert offending("probes/*.py", ABOVE_PROBES) == {}
    assert offending("redact.py", (*ABOVE_PROBES, "probes")) == {}
    assert "slowatch.config.endpoints" not in imports(PACKAGE / "redact.py")


def test_only_the_command_line_imports_the_command_line() -> None:
    users = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if "slowatch.cli" in imports(p)]
    assert sorted(users) == ["__main__.py"]


def test_every_configurable_kind_has_one_registry_entry_and_back() -> None:
    union = typing.get_args(typing.get_args(Endpoint)[0])
    models = {typing.get_args(m.model_fields["kind"].annotation)[0]: m for m in union}
    assert {name: kind.model for name, kind in KINDS.items()} == models
    assert list(KINDS) == list(models)  # one order: `slowatch check`'s "expected one of" lists the union's


def test_nothing_outside_a_kind_branches_on_its_name() -> None:
    names = "|".join(KINDS)
    pattern = re.compile(rf"""kind\s*[!=]=\s*["']({names})["']|["']({names})["']\s*[!=]=\s*\S*kind""")
    hits = [
        f"{p.relative_to(PACKAGE)}:{i}"
        for p in PACKAGE.rglob("*.py")
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert hits == []


def test_every_outcome_a_kind_produces_is_known_everywhere() -> None:
    produced = set().union(*(kind.outcomes for kind in KINDS.values()))
    assert produced <= set(Outcome) and Outcome.SUCCESS in produced
    assert tuple(o.value for o in OUTCOMES) == OUTCOME_CODES
    # the codes the store has written since format v1 never move
    assert OUTCOME_CODES[:13] == (
        "success", "timeout", "connection_refused", "connection_reset", "dns_error", "tls_error",
        "certificate_expiring", "http_status", "assertion_failed", "body_too_large", "too_many_redirects",
        "protocol_error", "error",
    )  # fmt: skip


def test_no_layer_above_the_kinds_names_a_kind_model() -> None:
    """The scheduler, workers, store, metrics, web, alerting and generators see `Endpoint` and ask the
    registry (`KINDS[ep.kind]`); a kind's own model (`UdpEndpoint`) is named only in config/ and probes/."""
    models = {kind.model.__name__ for kind in KINDS.values()}
    hits = [
        f"{p.relative_to(PACKAGE)}: {name}"
        for p in sorted(PACKAGE.rglob("*.py"))
        if p.parent.name not in ("config", "probes")
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, ast.Name | ast.alias | ast.Attribute)
        for name in [node.id if isinstance(node, ast.Name) else node.name if isinstance(node, ast.alias) else node.attr]
        if name in models
    ]
    assert hits == []
