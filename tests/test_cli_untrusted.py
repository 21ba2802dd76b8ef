"""Text other people wrote (correction reasons, annotation texts) printed by the CLI: no ANSI escape
reaches the terminal and no line break forges a line of the report."""

from __future__ import annotations

from pathlib import Path

import pytest

from slowatch.cli import main

CONFIG = """\
server: {database: ./s.db}
endpoints:
  - {name: api, kind: http, url: "http://127.0.0.1:9/"}
consumers:
  - name: shop
    endpoints: [api]
    slos: [{name: availability, sli: availability, objective: 99, window: 7d}]
"""
EVIL = "x \x1b[31mRED\x1b]0;title\x07\x1b[0m\r\n#9 forged line\u202e"


def test_report_and_correction_list_show_hostile_text_escaped_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "slowatch.yaml"
    config.write_text(CONFIG)
    span = ["--from", "2026-12-07T05:00Z", "--to", "2026-12-07T05:30Z"]
    assert main(["correct", "--config", str(config), "--consumer", "shop", *span, "--reason", EVIL]) == 0
    assert main(["annotate", "--config", str(config), "--kind", "deploy", "--text", EVIL]) == 0
    capsys.readouterr()
    assert main(["correct", "--config", str(config), "--list"]) == 0
    assert main(["report", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out and "\u202e" not in out, out
    assert not any(line.startswith("#9") for line in out.splitlines()), out
    assert "by cli:" in out and "x \\u001b[31mRED\\u001b]0;title\\u0007\\u001b[0m #9 forged line\\u202e" in out, out
    assert "correction: #1 " in out and "\\u001b[31mRED" in out.split("correction: #1 ")[1].splitlines()[0]
