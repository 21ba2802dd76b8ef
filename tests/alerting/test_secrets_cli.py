"""Secrets never reach logs, errors, metrics or the CLI; `slowatch alerts | silence | test-sink`."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from pathlib import Path
from typing import Any

import pytest

from slowatch.alerting.cli import alerts_report
from slowatch.alerting.outbox import list_outbox
from slowatch.alerting.suppress import SILENCE_PREFIX
from slowatch.cli import main
from slowatch.config import load
from tests.alerting.conftest import FAST_SINK, http_endpoint, make_config, slack_sink
from tests.alerting.fakes import FakeReceiver, Reply, Target
from tests.alerting.test_delivery import metrics_text
from tests.e2e.harness import free_port

SLACK_PATH = "/services/T0SECRETA/B0SECRETB/xoxSECRETC"
HEADER = "Bearer HDRSECRET456"
QUERY = "QRYSECRET789"


async def test_secrets_never_leak(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Only the webhook sink sends the header, so only its path echoes it back (a shared script made the
    # echo land on the slack sink in some runs, which never had the header to scrub).
    receiver.scripts["/hook"] = deque([Reply(500, "oops"), Reply(400, f"invalid_payload, you sent {HEADER}")])
    closed = free_port()
    config = make_config(
        tmp_path,
        endpoints=[http_endpoint("a", target.url(), failure_threshold=1)],
        sinks={
            "slack": slack_sink(receiver.url(SLACK_PATH)),
            "hook": {
                "kind": "webhook",
                "url": receiver.url(f"/hook?token={QUERY}"),
                "headers": {"Authorization": HEADER},
                **FAST_SINK,
            },
            "gone": {"kind": "webhook", "url": f"http://127.0.0.1:{closed}/x?token={QUERY}", **FAST_SINK},
        },
        routes=[{"match": {}, "sinks": ["slack", "hook", "gone"]}],
    )
    r = await rig(config)
    target.up = False
    with caplog.at_level(logging.DEBUG):
        await r.probe("a")
        await receiver.wait_acked(1)
        for _ in range(100):
            if r.service.dispatcher.counters[("gone", "retried")] >= 2 and len(receiver.attempts) >= 3:
                break
            await asyncio.sleep(0.05)
        attempt = await r.service.test_sink("gone")
    rows = await r.store.read(list_outbox)
    errors = [row.last_error for row in rows]
    assert any("HTTP 400" in e for e in errors) and any("cannot connect" in e for e in errors), errors
    assert any("<hidden>" in e for e in errors)  # the sink echoed the header back: scrubbed
    lines, _ = alerts_report(config)
    ours = "\n".join(rec.getMessage() for rec in caplog.records if rec.name.startswith("slowatch"))
    exposed = "\n".join([ours, metrics_text(r), *errors, *lines, attempt.error, repr(config)])
    for secret in ("SECRETA", "SECRETB", "SECRETC", "HDRSECRET", QUERY, SLACK_PATH):
        assert secret not in exposed, secret
    assert "sink=gone" in ours and "sink=hook" in ours  # the fake server's own access log is not ours


def write_yaml(tmp_path: Path, target: Target, receiver: FakeReceiver) -> Path:
    path = tmp_path / "slowatch.yaml"
    path.write_text(f"""
server: {{database: "{tmp_path / "cli.db"}"}}
endpoints:
  - name: api
    kind: http
    url: "{target.url()}"
    alerts: {{failure_threshold: 1}}
    expect: {{body: [{{json_path: "$.status", equals: up}}]}}
consumers:
  - {{name: checkout, endpoints: [api]}}
sinks:
  oncall: {{kind: slack, webhook_url: "{receiver.url("/services/CLISECRET")}"}}
routes:
  - {{match: {{}}, sinks: [oncall]}}
alerting:
  evaluate_interval: 100ms
  storm: {{group_wait: 0s}}
""")
    return path


async def test_cli_alerts_silence_and_test_sink(
    tmp_path: Path, target: Target, receiver: FakeReceiver, rig: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_yaml(tmp_path, target, receiver)
    assert main(["alerts", "--config", str(path)]) == 1  # no database yet
    assert "daemon has not run" in capsys.readouterr().err
    r = await rig(load(path))
    target.up = False
    await r.probe("api")
    await receiver.wait_acked(1)
    await asyncio.sleep(0.2)
    assert main(["alerts", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "FIRING (1)" in out and "endpoint:api" in out and "notified" in out
    assert "OUTBOX (0 pending" in out and "delivered" in out and "endpoint:api@" in out
    assert "CLISECRET" not in out

    code = await asyncio.to_thread(
        main,
        [
            "silence",
            "--config",
            str(path),
            "--consumer",
            "checkout",
            "--until",
            "2099-01-01T10:00Z",
            "--reason",
            "migration",
        ],
    )
    assert code == 0 and "checkout silenced until 2099-01-01 10:00:00 UTC" in capsys.readouterr().out
    assert (await r.store.get_states(SILENCE_PREFIX))["alerting.silence.consumer.checkout"]["reason"] == "migration"
    for _ in range(50):  # the running service reloads silences every evaluate_interval
        if r.service.suppressor.silenced("consumer", "checkout", r.clock.time()):
            break
        await asyncio.sleep(0.05)
    assert r.service.suppressor.silenced("consumer", "checkout", r.clock.time())
    assert main(["alerts", "--config", str(path)]) == 0
    assert "SILENCES (1)" in capsys.readouterr().out
    bad = await asyncio.to_thread(
        main, ["silence", "--config", str(path), "--consumer", "nobody", "--until", "2099-01-01T10:00Z"]
    )
    assert bad == 2 and "unknown consumer 'nobody'" in capsys.readouterr().err

    assert await asyncio.to_thread(main, ["test-sink", "--config", str(path), "oncall"]) == 0
    assert "test message delivered to sink oncall" in capsys.readouterr().out
    test = receiver.acked[-1].body
    assert test["text"].startswith("[TEST]") and "TEST" in test["blocks"][0]["text"]["text"]
    receiver.default = Reply(404, "no_service")
    assert await asyncio.to_thread(main, ["test-sink", "--config", str(path), "oncall"]) == 1
    err = capsys.readouterr().err
    assert "failed: HTTP 404: no_service" in err and "CLISECRET" not in err
    assert await asyncio.to_thread(main, ["test-sink", "--config", str(path), "nope"]) == 2
