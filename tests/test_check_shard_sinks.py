"""`slowatch check` on a sharded config (`server.cluster.shards` > 1) whose routes send alerts to Slack or a webhook
warns, located at each such sink: each shard pages its own part, so an outage that goes on across a reshard pages
twice there (README: Resharding). A warning, not an error: exit 0. Run as a user would, in a child process."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.support.cli import run_cli

CONFIG = """\
server:
  database: "{db}"
  cluster: {{shards: {shards}, shard: 0}}
endpoints:
  - {{name: api, kind: http, url: "http://127.0.0.1:9/"}}
consumers:
  - {{name: shop, endpoints: [api], slos: [{{name: up, sli: availability, objective: 99}}]}}
sinks:
  am: {{kind: alertmanager, url: "http://127.0.0.1:9093"}}
  chat:
    kind: slack
    webhook_url: "https://hooks.slack.test/x"
  hook: {{kind: webhook, url: "http://127.0.0.1:9/hook"}}
  spare: {{kind: slack, webhook_url: "https://hooks.slack.test/unrouted"}}
routes:
  - {{match: {{kind: burn_rate}}, sinks: [am, hook], continue: true}}
  - {{sinks: {routed}}}
"""


def write(tmp_path: Path, shards: int, routed: str) -> Path:
    path = tmp_path / "sharded.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "s.db", shards=shards, routed=routed))
    return path


async def test_check_warns_of_slack_and_webhook_sinks_on_a_sharded_config(tmp_path: Path) -> None:
    path = write(tmp_path, 2, "[chat, am]")
    code, out, err = await run_cli("check", str(path), cwd=tmp_path)
    assert code == 0 and "OK" in out, err
    warned = [line for line in err.splitlines() if "sharded setup" in line]
    assert len(warned) == 2, err  # chat and hook (routed); not am, not the unrouted spare
    chat = next(line for line in warned if " sinks.chat:" in line)
    hook = next(line for line in warned if " sinks.hook:" in line)
    assert chat.startswith(f"warning: {path}:10:3 sinks.chat: slack sink routed endpoint and SLO alerts (routes[1])")
    assert hook.startswith(f"warning: {path}:13:3 sinks.hook: webhook sink routed burn_rate alerts (routes[0])")
    for line in warned:
        assert "server.cluster.shards: 2" in line and "pages twice" in line and "`alertmanager` sink" in line
    assert "hooks.slack.test" not in err  # (no sink URL: it is a secret)


async def test_check_does_not_warn_unsharded_or_through_alertmanager_only(tmp_path: Path) -> None:
    for shards, routed in ((1, "[chat]"), (2, "[am]")):
        path = write(tmp_path, shards, routed)
        text = path.read_text().replace("[am, hook]", "[am]")
        path.write_text(textwrap.dedent(text))
        code, out, err = await run_cli("check", str(path), cwd=tmp_path)
        assert code == 0 and "OK" in out and "sharded setup" not in err, err
