"""Every config shipped under config/ (and the demo's copy in the package) passes `slowatch check`, without a
warning, run as a user runs it, with the environment its header says its runner sets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import slowatch

ROOT = Path(__file__).resolve().parent.parent
RUNNER_ENV = {  # what scripts/cluster-demo gives every instance (slowatch/topology/demo.py, stack.py)
    "cluster-demo.yaml": {
        "DEMO_HOST": "127.0.0.1:8900",
        "SLOWATCH_ALERTMANAGER_1": "http://127.0.0.1:9093",
        "SLOWATCH_ALERTMANAGER_2": "http://127.0.0.1:9094",
    },
}
CONFIGS = [*sorted(ROOT.glob("config/*.yaml")), Path(slowatch.__file__).with_name("demo.yaml")]


def test_every_shipped_config_is_listed() -> None:
    assert {p.name for p in CONFIGS} >= {"slowatch.yaml", "cluster-demo.yaml", "demo.yaml"}


@pytest.mark.parametrize("config", CONFIGS, ids=[str(p.relative_to(p.parents[1])) for p in CONFIGS])
def test_a_shipped_config_checks_clean(config: Path, tmp_path: Path) -> None:
    unset = {"DEMO_HOST", "DEMO_SMTP_PORT", "SLOWATCH_LISTEN", "SLOWATCH_DB"} | {
        f"{c}_SLACK_WEBHOOK" for c in ("ONCALL", "PLATFORM")
    }
    env = {k: v for k, v in os.environ.items() if k not in unset} | RUNNER_ENV.get(config.name, {})
    done = subprocess.run(
        [sys.executable, "-m", "slowatch", "check", str(config)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == "" and f"{config}: OK (" in done.stdout
