"""Commands that use no secret run without the secrets (slowatch/cli_config.py, config/stand_ins.py).

`slowatch report` (and `alerts`, `gate`, ...) on a laptop copy of the production config refused to run until
every `${VAR}` was set, the Slack webhook URL and every token included, though it sends nothing: the SRE had to
copy production secrets to read a report. Now an unset variable in a secret-typed field gets a stand-in and is
listed once; one anywhere else is still an error; `run`, `check`, `probe` and `test-sink` stay strict, the
loader child gets the flag, the compiled cache never hands a stand-in Config to a strict load, and the daemon
refuses one."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from slowatch.cli import main
from slowatch.config.isolated import load_cached, load_isolated
from slowatch.daemon import Daemon
from slowatch.errors import ConfigError
from slowatch.store.schema import migrate

SECRETS = ("H14_API_TOKEN", "H14_CHECKOUT_TOKEN", "H14_HOOK_TOKEN", "H14_OP_TOKEN", "H14_PROXY_PASSWORD", "H14_SLACK")
LISTED = ", ".join(SECRETS)
IN_FILE_ORDER = ("H14_OP_TOKEN", "H14_API_TOKEN", "H14_PROXY_PASSWORD", "H14_CHECKOUT_TOKEN")
IN_FILE_ORDER += ("H14_SLACK", "H14_HOOK_TOKEN")

CONFIG = """\
server:
  database: {db}
  auth:
    operator_tokens: ["${{H14_OP_TOKEN}}"]
endpoints:
  - name: api
    kind: http
    url: {url}
    headers: {{Authorization: "Bearer ${{H14_API_TOKEN}}"}}
    proxy: {{url: "http://127.0.0.1:3128/", username: ops, password: "${{H14_PROXY_PASSWORD}}"}}
consumers:
  - name: checkout
    endpoints: [api]
    access: {{tokens: ["${{H14_CHECKOUT_TOKEN}}"]}}
    slos: [{{name: availability, sli: availability, objective: 99.9}}]
sinks:
  slack: {{kind: slack, webhook_url: "${{H14_SLACK}}"}}
  hook: {{kind: webhook, url: "http://127.0.0.1:9/hook", headers: {{X-Token: "${{H14_HOOK_TOKEN}}"}}}}
routes: [{{match: {{}}, sinks: [slack, hook]}}]
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config whose six secrets are all unset, and a slowatch database (empty) for the commands to read."""
    for name in (*SECRETS, "H14_API_HOST"):
        monkeypatch.delenv(name, raising=False)
    db = tmp_path / "s.db"
    conn = sqlite3.connect(db, isolation_level=None)
    migrate(Database(conn))
    conn.close()
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG.format(db=db, url="http://127.0.0.1:9/health"))
    return path


def _commands(config: Path) -> dict[str, list[str]]:
    c = ["--config", str(config)]
    return {
        "report": ["report", *c],
        "alerts": ["alerts", *c],
        "gate": ["gate", *c, "--consumer", "checkout"],
        "shard": ["shard", *c, "--shards", "2"],
        "generate": ["generate", "prometheus-rules", *c],
        "silence": ["silence", *c, "--endpoint", "api", "--until", "2099-01-01T00:00Z"],
        "correct": ["correct", *c, "--list"],
        "annotate": ["annotate", *c, "--kind", "note", "--text", "laptop"],
    }


@pytest.mark.parametrize("command", list(_commands(Path())))
def test_a_command_that_uses_no_secret_runs_without_the_secrets(
    config: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(_commands(config)[command])

    out, err = capsys.readouterr()
    assert code == 0, (out, err)
    assert err.count(f"not set, not needed by `{command}`: {LISTED}\n") == 1, err
    assert "is not set" not in err and "error(s)" not in err


def test_an_unset_variable_outside_a_secret_is_still_a_located_error(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The report needs the endpoint's URL (it names the endpoint's target nowhere, but a URL is no secret: an
    unset host is a broken config, not a secret left behind)."""
    config.write_text(CONFIG.format(db=config.parent / "s.db", url='"http://${H14_API_HOST}/health"'))

    assert main(["report", "--config", str(config)]) == 2

    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"{config}:8:10 endpoints[0].url: environment variable H14_API_HOST is not set",
        f"{config}: 1 error(s)",
    ]


@pytest.mark.parametrize(
    "argv",
    [["check"], ["run", "--once", "--config"], ["probe", "api", "--config"], ["test-sink", "slack", "--config"]],
)
def test_run_check_probe_and_test_sink_still_need_every_secret(
    config: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*argv, str(config)]) == 2

    err = capsys.readouterr().err
    assert [line.rpartition(": ")[2] for line in err.splitlines()[:-1]] == [
        f"environment variable {name} is not set" for name in IN_FILE_ORDER
    ]
    assert "not needed" not in err


def test_the_loader_child_of_a_large_config_gets_the_flag(config: Path) -> None:
    loaded = load_isolated(config, threshold=1, stand_ins=True)  # (threshold=1: loaded in a child process)

    assert loaded.unset_secrets == SECRETS
    sink = loaded.sinks["slack"]
    assert sink.kind == "slack" and sink.webhook_url.get_secret_value().endswith(".invalid/unset")
    access = loaded.consumers[0].access
    assert access is not None and access.tokens[0].get_secret_value().startswith("http://slowatch-stand-in-")
    with pytest.raises(ConfigError):
        load_isolated(config, threshold=1)


def test_a_stand_in_config_is_never_cached_as_the_real_one(
    config: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    assert load_cached(config, cache_above=1, stand_ins=True).unset_secrets == SECRETS  # written to the cache
    assert load_cached(config, cache_above=1, stand_ins=True).unset_secrets == SECRETS  # read back from it
    assert sum("from the compiled cache" in r.getMessage() for r in caplog.records) == 1

    with pytest.raises(ConfigError) as strict:  # `run` or `check` with the same file and environment
        load_cached(config, cache_above=1)
    assert len(strict.value.problems) == len(SECRETS)

    for name in SECRETS:
        monkeypatch.setenv(name, f"{name.lower()}-0123456789abcdef")
    monkeypatch.setenv("H14_SLACK", "https://hooks.slack.example/services/T0/B0/x")
    real = load_cached(config, cache_above=1)
    assert real.unset_secrets == ()
    assert real.sinks["slack"].webhook_url.get_secret_value() == "https://hooks.slack.example/services/T0/B0/x"  # type: ignore[union-attr]


def test_the_daemon_refuses_a_config_with_stand_ins(config: Path) -> None:
    loaded = load_isolated(config, stand_ins=True)

    with pytest.raises(ConfigError) as refused:
        Daemon(loaded, config_path=config)
    assert [p.message for p in refused.value.problems] == [f"environment variable {n} is not set" for n in SECRETS]
