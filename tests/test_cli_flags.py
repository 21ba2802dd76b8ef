"""`run`/`demo`'s server flags (`--listen`, `--db`, `--log-format`) change only what they name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from slowatch.cli_flags import override
from slowatch.config import load

SHORT_ROLLUPS = """
server:
  retention: {{rollups: 30d}}
endpoints:
  - {{name: a, kind: http, url: "http://127.0.0.1:{port}/"}}
"""


def test_flags_keep_a_config_whose_defaults_follow_other_fields(tmp_path: Path) -> None:
    """`retention.rollups: 30d` with `hourly` unset is valid (hourly is kept min(95d, rollups)) and `check` says
    OK, but `run --db/--listen/--log-format` re-validated the server section with every default written out and
    refused it: "retention.hourly: must not be longer than retention.rollups (30d)"."""
    path = tmp_path / "c.yaml"
    path.write_text(SHORT_ROLLUPS.format(port=9))
    config = load(path)
    assert config.server.retention.hourly_kept == 30 * 86400.0
    changed = override(config, "127.0.0.1:9999", str(tmp_path / "x.db"), "json")
    assert (changed.server.listen, changed.server.database, changed.server.log_format) == (
        "127.0.0.1:9999",
        str(tmp_path / "x.db"),
        "json",
    )
    assert changed.server.retention == config.server.retention
    assert changed.model_copy(update={"server": config.server}) == config

    argv = ["run", "--config", str(path), "--once", "--db", str(tmp_path / "y.db"), "--log-format", "json"]
    done = subprocess.run([sys.executable, "-m", "slowatch", *argv], capture_output=True, text=True, timeout=60)
    assert "retention" not in done.stderr, done.stderr
    assert done.returncode == 1 and "connection_refused" in done.stdout, done.stdout + done.stderr
