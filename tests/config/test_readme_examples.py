"""The README's YAML examples load: a user who copies one into a config gets no error from the loader.

Every fenced ```yaml block of README.md is taken, except OpenSLO documents and examples abbreviated
with `...`. A block that is a whole config (top-level keys) is loaded as it is, with the endpoints and
the `checkout` consumer the README's examples name (payments-api, auth-api, db, ...) added where the
block does not define them itself. An endpoint example (`  - name: ...` with a `kind`) is loaded as
`endpoints:`; an SLO example (`slos:`, or one indented `- name:` with an objective) inside a consumer.
`${VAR}`s are given values of the right shape (a URL for webhooks, a known location).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from slowatch.config import load_text

README = Path(__file__).resolve().parents[2] / "README.md"
FENCE = re.compile(r"^```yaml\n(.*?)^```", re.M | re.S)

CONTEXT: dict[str, Any] = {
    "endpoints": [
        {
            "name": "payments-api",
            "kind": "http",
            "url": "https://payments.internal/health",
            "labels": {"tier": "critical"},
        },
        {"name": "catalog-api", "kind": "http", "url": "https://catalog.internal/health"},
        {"name": "inventory-api", "kind": "http", "url": "https://inventory.internal/health"},
        {"name": "auth-api", "kind": "http", "url": "https://auth.internal/health"},
        {"name": "db", "kind": "tcp", "host": "10.0.0.5", "port": 5432, "labels": {"tier": "data"}},
    ],
    "consumers": [
        {
            "name": "checkout",
            "endpoints": ["payments-api", "catalog-api"],
            "slos": [
                {"name": "availability", "sli": "availability", "objective": 99.9},
                {"name": "payments", "sli": "availability", "objective": 99.5, "endpoints": ["payments-api"]},
                {"name": "weekly", "sli": "availability", "objective": 99, "window": "7d"},
                {"name": "legacy", "sli": "availability", "objective": 99},
            ],
        }
    ],
}


def examples() -> list[tuple[int, str]]:
    """(line of the block's first line in README.md, its text) for every yaml block."""
    text = README.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in FENCE.finditer(text)]


def env_for(text: str) -> dict[str, str]:
    values = {}
    for name in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text):
        if "WEBHOOK" in name:
            values[name] = f"https://hooks.example.com/{name.lower()}"
        elif name == "SLOWATCH_LOCATION":
            values[name] = "eu-west"
        else:
            values[name] = f"readme-{name.lower()}-0123456789"  # tokens need 16 characters
    return values


def with_context(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` plus the README's endpoints and consumers it names without defining them."""
    merged = dict(doc)
    for key in ("endpoints", "consumers"):
        own = list(doc.get(key) or [])
        names = {item.get("name") for item in own if isinstance(item, dict)}
        merged[key] = own + [item for item in CONTEXT[key] if item["name"] not in names]
    return merged


def abbreviated(doc: Any) -> bool:
    """Whether a key or value of `doc` is `...` (a README example shortened by hand)."""
    if isinstance(doc, dict):
        return any(abbreviated(k) or abbreviated(v) for k, v in doc.items())
    if isinstance(doc, list):
        return any(abbreviated(item) for item in doc)
    return bool(doc == "...")


def as_config(block: str) -> dict[str, Any] | None:
    """The config a README block stands for, or None when it is not a slowatch config example."""
    if re.search(r"^kind: ", block, re.M):  # an OpenSLO document
        return None
    doc = yaml.safe_load(textwrap.dedent(block))  # a block that does not parse fails here, with YAML's message
    if abbreviated(doc):
        return None
    if not block.startswith(" "):
        assert isinstance(doc, dict)
        return with_context(doc)
    if isinstance(doc, list) and all("kind" in item for item in doc):
        return with_context({"endpoints": doc})
    if isinstance(doc, dict) and set(doc) == {"slos"}:
        slos = doc["slos"]
    elif isinstance(doc, list) and all("objective" in item for item in doc):
        slos = doc
    else:
        raise AssertionError(f"a README yaml block of an unknown shape: {block[:80]!r}")
    consumer = CONTEXT["consumers"][0]
    names = {slo["name"] for slo in slos}
    kept = [slo for slo in consumer["slos"] if slo["name"] not in names]
    return with_context({"consumers": [{**consumer, "slos": [*kept, *slos]}]})


def test_the_readme_has_its_examples() -> None:
    configs = [as_config(block) for _, block in examples()]
    assert sum(c is not None for c in configs) >= 15  # a changed fence or filter must not skip them all


@pytest.mark.parametrize(("line", "block"), examples(), ids=[f"README.md:{line}" for line, _ in examples()])
def test_a_readme_yaml_example_loads(line: int, block: str) -> None:
    config = as_config(block)
    if config is None:
        pytest.skip("not a slowatch config example (OpenSLO, or abbreviated with ...)")
    text = yaml.safe_dump(config, sort_keys=False)
    load_text(text, f"README.md:{line}", env=env_for(block))
