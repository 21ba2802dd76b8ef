"""`slowatch generate <target>`: artefacts generated from a slowatch config.

Each target is one entry of `TARGETS` (name -> `Target`); adding one is one line, e.g.

    "openslo": Target("OpenSLO v1 documents (multi-document YAML)", "FILE", write_openslo),

A target's `write(config, source, out)` returns what it wrote as `(path or "-", text)` pairs; the CLI
prints "-" entries to stdout and writes the others (creating directories).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # each generator is imported by its target: `slowatch --help` lists the targets without them
    from slowatch.config.schema import Config

Output = list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Target:
    help: str
    output: str  # what -o names, for --help
    write: Callable[[Config, str, str | None], Output]
    needs_output: bool = False


def write_rules(config: Config, source: str, out: str | None) -> Output:
    from slowatch.generate.prometheus import render_rules

    return [(out or "-", render_rules(config, source))]


def write_dashboards(config: Config, source: str, out: str | None) -> Output:
    from slowatch.generate.dashboards import dashboards

    assert out is not None  # needs_output
    return [
        (str(Path(out) / f"{uid}.json"), json.dumps(doc, indent=2, sort_keys=True) + "\n")
        for uid, doc in dashboards(config).items()
    ]


def write_openslo(config: Config, source: str, out: str | None) -> Output:
    from slowatch.generate import openslo

    return [(out or "-", openslo.render(openslo.generate(config), source, config))]


TARGETS: dict[str, Target] = {
    "prometheus-rules": Target("Prometheus recording and alerting rules (a rule_files file)", "FILE", write_rules),
    "grafana-dashboards": Target("Grafana dashboards (overview, per consumer)", "DIR", write_dashboards, True),
    "openslo": Target("the consumers and SLOs as OpenSLO v1 documents", "FILE", write_openslo),
}

__all__ = ["TARGETS", "Output", "Target"]
