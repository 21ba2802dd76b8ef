"""Out-of-range option values are a usage error naming the option (exit 2), never a traceback: each of these
ended in an OverflowError or ValueError traceback, exit 1, found by running every command with edge values."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import run_cli

CONFIG = """\
server: {database: ./slowatch.db}
endpoints:
  - {name: api, kind: http, url: "http://127.0.0.1:9/", interval: 10s}
consumers:
  - {name: shop, endpoints: [api], slos: [{name: up, sli: availability, objective: 99}]}
"""

CASES = {
    "alerts --limit": (("alerts", "-c", "slowatch.yaml", "--limit", "99999999999999999999"), "argument --limit"),
    "alerts --limit -1": (("alerts", "-c", "slowatch.yaml", "--limit", "-1"), "argument --limit"),
    "demo --demo-port": (("demo", "-c", "slowatch.yaml", "--demo-port", "99999", "--duration", "1"), "--demo-port"),
    "report --window": (("report", "-c", "slowatch.yaml", "--window", "99999999999d"), "argument --window"),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_an_out_of_range_value_is_a_usage_error(tmp_path: Path, case: str) -> None:
    (tmp_path / "slowatch.yaml").write_text(CONFIG)
    code, out, _ = await run_cli("run", "-c", "slowatch.yaml", "--once", cwd=tmp_path, merged=True)
    assert code in (0, 1), out  # (a database with the tables: the value, not a missing file, is the problem)
    argv, named = CASES[case]

    code, out, err = await run_cli(*argv, cwd=tmp_path)

    assert "Traceback" not in err, err
    assert (code, out) == (2, ""), (code, out, err)
    assert named in err.strip().splitlines()[-1], err
