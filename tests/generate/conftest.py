"""Fixtures for the generators: test configs as real files, and Debian's promtool."""

from __future__ import annotations

import os
import shutil
import textwrap
from pathlib import Path

import pytest

from slowatch.config import Config, load

RULES_CONFIG = """\
defaults: {timeout: 2s}
endpoints:
  - {name: api, kind: http, url: "http://127.0.0.1:9/api", interval: 10s}
  - {name: web.front, kind: http, url: "http://127.0.0.1:9/web", interval: 5s, alerts: {failure_threshold: 4}}
  - {name: batch, kind: http, url: "http://127.0.0.1:9/batch", alerts: {enabled: false}}
consumers:
  - name: shop
    endpoints: [api, web.front]
    slos:
      - {name: avail, sli: availability, objective: 99, window: 30d}
      - {name: fast, sli: latency, threshold: 250ms, objective: 95, window: {calendar: month}}
  - name: reports
    endpoints: [batch]
    slos:
      - {name: budget, sli: availability, objective: 90, window: 1h}
  - name: quiet
    endpoints: [batch]
    slos:
      - {name: avail, sli: availability, objective: 99.9, window: 28d}
alerting:
  slos:
    - consumer: shop
      slo: avail
      burn_tiers:
        - {severity: page, long: 1h, short: 5m, budget_percent: 2}
        - {severity: ticket, long: 1d, short: 2h, budget_percent: 10}
    - {consumer: reports, slo: budget, exhausted_threshold: 0.5}
"""


@pytest.fixture
def rules_config(tmp_path: Path) -> Config:
    path = tmp_path / "slowatch.yaml"
    path.write_text(textwrap.dedent(RULES_CONFIG), encoding="utf-8")
    return load(path, env={})


def binary(name: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else None)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed (scripts/dev test installs Debian's prometheus package)")
        pytest.skip(f"{name} not installed")
    return path
