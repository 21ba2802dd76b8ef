"""Command line: `slowatch run | shard | check | probe | demo | report | correct | gate | annotate | alerts |
test-sink | silence | generate | import`.

The only module that prints. While a command runs, stdout and stderr pass through
`untrusted.printable`: text a target or an API client wrote (a banner, a correction's reason) never
reaches the terminal as an ANSI escape sequence or another control character; it is shown escaped.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from slowatch import __version__, process
from slowatch.annotate_cli import add_annotate_arguments
from slowatch.api_client import positive_seconds
from slowatch.cli_config import load_or_report as _load_or_report
from slowatch.cli_flags import check_db as _check_db
from slowatch.cli_flags import int_in as _int_in
from slowatch.cli_flags import override as _override
from slowatch.cluster_cli import add_cluster_arguments, add_shard_command
from slowatch.correct import add_correct_arguments, run_correct
from slowatch.errors import ConfigError, SlowatchError
from slowatch.gate_cli import add_gate_arguments
from slowatch.generate_cli import add_generate_commands
from slowatch.lock_wait import CLI_WAIT, LOCK_WAIT_HELP, lock_wait
from slowatch.report_args import add_report_arguments
from slowatch.untrusted import Printable

if TYPE_CHECKING:  # each command imports what it needs: `--help` and `check` never load aiohttp, the store, ...
    from slowatch.config import Config

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2


def cmd_run(args: argparse.Namespace) -> int:
    from slowatch.config.isolated import reload_isolated
    from slowatch.config.parts import Unpacker
    from slowatch.config.source import fingerprint
    from slowatch.daemon import Daemon

    unpacker = Unpacker()  # a reload takes over the parts of the Config this start built (config/parts.py)
    digest = fingerprint(args.config)  # before reading it: an edit made while the daemon starts is a change
    config = _load_or_report(args.config, unpacker)
    if config is None:
        return EXIT_CONFIG
    from slowatch.cluster_cli import FlagConflict, apply_cluster_flags

    overrides = (args.listen, args.db, args.log_format)
    try:
        config = apply_cluster_flags(_override(config, *overrides), args)
        _check_db(args.db)
    except ValueError as exc:
        print(f"slowatch run: {exc}", file=sys.stderr)
        return EXIT_CONFIG

    def load(path: Path) -> Config:  # a reload keeps the command line's overrides
        try:
            return apply_cluster_flags(_override(reload_isolated(path, unpacker), *overrides), args)
        except FlagConflict as exc:  # a new file that no longer fits the flags: rejected like any bad config
            raise exc.located(path) from None

    async def main(config: Config) -> int:
        # here: after process.run raised nofile
        daemon = Daemon(config, config_path=args.config, load=load, config_digest=digest)
        del config  # (see below)
        if args.once:
            await daemon.start(schedule=False, serve=False)
            try:
                results = await daemon.probe_all_once()
            finally:
                await daemon.stop()
            for r in results:
                print(f"{r.endpoint:30} {r.outcome.value:20} {r.duration * 1000:8.1f}ms  {r.message}")
            return EXIT_OK if all(r.ok for r in results) else EXIT_FAILURE
        await daemon.run()
        return EXIT_OK

    # The daemon holds the Config while it runs it: nothing else may (a local of this frame or of main), or the
    # start's Config, endpoints and all, outlives every reload that replaced it.
    server, coro = config.server, main(config)
    del config
    try:
        return process.run(coro, event_loop=server.event_loop, log_format=server.log_format, log_level=args.log_level)
    except SlowatchError as exc:
        logging.getLogger("slowatch").error("%s", exc)
        return EXIT_FAILURE


def _count(n: int, noun: str) -> str:
    return f"no {noun}s" if n == 0 else f"1 {noun}" if n == 1 else f"{n:,} {noun}s"


def cmd_check(args: argparse.Namespace) -> int:
    config = _load_or_report(args.config)
    if config is None:
        return EXIT_CONFIG
    from slowatch.config.access import exposure_warning, metrics_exposure_warning
    from slowatch.config.cluster import replica_sink_warning, shard_sink_warnings
    from slowatch.config.located import located
    from slowatch.slo.judgeable import unjudgeable_warnings, unreachable_tier_warnings

    for warning in (exposure_warning(config), metrics_exposure_warning(config), replica_sink_warning(config)):
        if warning:
            print(warning, file=sys.stderr)
    for problem in located(args.config, shard_sink_warnings(config)):
        print(f"warning: {problem}", file=sys.stderr)
    for warning in (*unjudgeable_warnings(config), *unreachable_tier_warnings(config)):
        print(f"warning: {warning}", file=sys.stderr)
    enabled = sum(1 for ep in config.endpoints if ep.enabled)
    print(f"{args.config}: OK ({_count(enabled, 'endpoint')}, {_count(len(config.consumers), 'consumer')})")
    return EXIT_OK


def cmd_shard(args: argparse.Namespace) -> int:
    from slowatch.cluster_cli import shard_lines

    config = _load_or_report(args.config, command="shard")
    if config is None:
        return EXIT_CONFIG
    return _print_result(shard_lines(config, args.shards, args.names))


def cmd_probe(args: argparse.Namespace) -> int:
    from slowatch.clock import SystemClock
    from slowatch.models import ProbeResult
    from slowatch.probes import ProbeContext, make_session, run_probe
    from slowatch.probes.describe import describe

    config = _load_or_report(args.config)
    if config is None:
        return EXIT_CONFIG
    try:
        endpoint = config.endpoint(args.name)
    except KeyError:
        names = ", ".join(ep.name for ep in config.endpoints)
        print(f"no endpoint named {args.name!r} (known: {names})", file=sys.stderr)
        return EXIT_CONFIG

    async def main() -> int:
        async with make_session() as session:
            ctx = ProbeContext(session=session, clock=SystemClock())
            attempts: list[ProbeResult] = []
            final = await run_probe(endpoint, ctx, attempts.append)
        for r in attempts:
            if len(attempts) > 1:
                print(f"attempt {r.attempt}/{endpoint.retries + 1}:")
            print(describe(r))
        return EXIT_OK if final.ok else EXIT_FAILURE

    return asyncio.run(main())


def _demo_config() -> str:
    """The demo's config: ./config/slowatch.yaml in a checkout, else the copy shipped in the package."""
    local = Path("config") / "slowatch.yaml"
    return str(local) if local.is_file() else str(Path(__file__).with_name("demo.yaml"))


def cmd_demo(args: argparse.Namespace) -> int:
    from slowatch.config import load
    from slowatch.demo import run_demo

    if args.config is None:
        args.config = _demo_config()
    config = _load_or_report(args.config)  # reported before anything starts; loaded again with the demo's ports
    if config is None or _with_db(config, args.db, "demo") is None:
        return EXIT_CONFIG

    def load_config(env: Mapping[str, str]) -> Config:
        return _override(load(args.config, env=env), None, args.db, None)

    demo = run_demo(
        load_config, config_path=args.config, port=args.demo_port, listen=args.listen, duration=args.duration
    )
    try:
        return process.run(
            demo, event_loop=config.server.event_loop, log_format=config.server.log_format, log_level=args.log_level
        )
    except ConfigError as exc:
        print("\n".join(map(str, exc.problems)), file=sys.stderr)
        return EXIT_CONFIG
    except BrokenPipeError:  # our reader exited (`| head -1`): main() ends quietly
        raise
    except OSError as exc:  # the port given with --demo-port is taken
        print(f"slowatch demo: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILURE
    except SlowatchError as exc:  # the daemon's (--listen's) port is taken
        print(f"slowatch demo: {exc}", file=sys.stderr)
        return EXIT_FAILURE


def _with_db(config: Config, db: str | None, command: str) -> Config | None:
    """`config` with `--db` in place of `server.database`; None (said why) when `db` cannot be a database path."""
    try:
        _check_db(db)
        return _override(config, None, db, None)
    except ValueError as exc:
        print(f"slowatch {command}: {exc}", file=sys.stderr)
        return None


def cmd_report(args: argparse.Namespace) -> int:
    from slowatch.report import run_report

    return run_report(args)


def _print_result(result: tuple[list[str], int]) -> int:
    lines, code = result
    print("\n".join(lines), file=sys.stdout if code == EXIT_OK else sys.stderr)
    return code


def cmd_alerts(args: argparse.Namespace) -> int:
    from slowatch.alerting.cli import alerts_report

    config = _load_or_report(args.config, command="alerts")
    if config is None:
        return EXIT_CONFIG
    config = _with_db(config, args.db, "alerts")
    return EXIT_CONFIG if config is None else _print_result(alerts_report(config, limit=args.limit))


def cmd_test_sink(args: argparse.Namespace) -> int:
    from slowatch.alerting.cli import test_sink

    config = _load_or_report(args.config)
    return EXIT_CONFIG if config is None else _print_result(test_sink(config, args.name))


def cmd_silence(args: argparse.Namespace) -> int:
    from slowatch.alerting.cli import parse_until, silence

    config = _load_or_report(args.config, command="silence")
    if config is None:
        return EXIT_CONFIG
    try:
        until = parse_until(args.until)
    except ValueError:
        print(f"--until: not a timestamp: {args.until!r} (use e.g. 2026-12-01T10:00Z)", file=sys.stderr)
        return EXIT_CONFIG
    target, name = ("consumer", args.consumer) if args.consumer else ("endpoint", args.endpoint)
    config = _with_db(config, args.db, "silence")
    if config is None:
        return EXIT_CONFIG
    return _print_result(silence(config, target, name, until, args.reason, wait=args.lock_wait))


def cmd_gate(args: argparse.Namespace) -> int:
    from slowatch.gate_cli import ERROR, run

    config = None
    if args.config:
        config = _load_or_report(args.config, command="gate")
        if config is None:
            return EXIT_CONFIG
    lines, code = run(args, config)
    print("\n".join(lines), file=sys.stderr if code == ERROR else sys.stdout)
    return code


def cmd_annotate(args: argparse.Namespace) -> int:
    from slowatch.annotate_cli import run_annotate

    config = None
    if args.config:
        config = _load_or_report(args.config, command="annotate")
        if config is None:
            return EXIT_CONFIG
    return _print_result(run_annotate(args, config))


DESCRIPTION = """\
slowatch, an uptime and SLO monitor. Commands: `slowatch run | shard | check |
probe | demo | report | correct | gate | annotate | alerts | test-sink |
silence | generate | import`.

First steps: `slowatch demo` (a local demo platform probed by the daemon, with a
live table); then write a config (README.md, "Configuration reference"),
`slowatch check FILE` and `slowatch run --config FILE`: the status page,
/metrics and /api/v1 are on server.listen (default http://127.0.0.1:9464/).
`slowatch COMMAND --help` describes one command.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="slowatch", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"slowatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("--config", "-c", required=True, help="YAML config file")
    run.add_argument("--listen", help="HOST:PORT for /metrics, the API and the status page")
    run.add_argument("--db", help="SQLite database path")
    run.add_argument("--log-format", choices=["text", "json"])
    levels = f"one of {', '.join(process.LOG_LEVELS)}, in any case"
    run.add_argument("--log-level", type=process.log_level, default="INFO", help=levels)
    once = "probe every endpoint once, record, print, exit 1 if any failed"
    run.add_argument("--once", action="store_true", help=once)
    add_cluster_arguments(run)
    run.set_defaults(func=cmd_run)
    add_shard_command(sub).set_defaults(func=cmd_shard)

    check = sub.add_parser("check", help="validate a config file; prints every error")
    check.add_argument("config")
    check.set_defaults(func=cmd_check)

    probe = sub.add_parser("probe", help="run one endpoint's probe once and print the result")
    probe.add_argument("--config", "-c", required=True)
    probe.add_argument("name")
    probe.set_defaults(func=cmd_probe)

    demo = sub.add_parser("demo", help="start a local demo platform and the daemon probing it")
    shipped = "default: config/slowatch.yaml if present, else the same file shipped with slowatch"
    demo.add_argument("--config", "-c", help=shipped)
    demo.add_argument("--listen", help="HOST:PORT for the daemon (default: server.listen if free, else a free port)")
    demo.add_argument("--db")
    port = _int_in(0, 65535, "a port")
    demo.add_argument("--demo-port", type=port, help="the demo platform's port (default: 8900 if free, else any)")
    until = "stop after this many seconds (default: run until Ctrl-C)"
    demo.add_argument("--duration", type=positive_seconds, help=until)
    demo.add_argument("--log-level", type=process.log_level, default="WARNING", help=levels)
    demo.set_defaults(func=cmd_demo)

    report = sub.add_parser("report", help="SLO and error-budget report from the database (daemon may run)")
    add_report_arguments(report)
    report.set_defaults(func=cmd_report)
    correct = sub.add_parser("correct", help="record, revoke or list budget corrections (retroactive exclusions)")
    add_correct_arguments(correct)
    correct.set_defaults(func=run_correct)

    gate = sub.add_parser("gate", help="may changes ship now? exit 0 go, 1 hold (error-budget policies)")
    add_gate_arguments(gate)
    gate.set_defaults(func=cmd_gate)

    annotate = sub.add_parser("annotate", help="record a deploy, incident or note (API or database)")
    add_annotate_arguments(annotate)
    annotate.set_defaults(func=cmd_annotate)
    alerts = sub.add_parser("alerts", help="list firing alerts, silences and the notification outbox")
    alerts.add_argument("--config", "-c", required=True)
    alerts.add_argument("--db", "--database", help="SQLite database path (default: server.database)")
    alerts.add_argument("--limit", type=_int_in(0, 1_000_000, "a count"), default=50, help="outbox rows to show")
    alerts.set_defaults(func=cmd_alerts)

    test_sink = sub.add_parser("test-sink", help="send a clearly marked test message to one sink")
    test_sink.add_argument("--config", "-c", required=True)
    test_sink.add_argument("name")
    test_sink.set_defaults(func=cmd_test_sink)

    silence = sub.add_parser("silence", help="silence a consumer's or an endpoint's alerts until a time")
    silence.add_argument("--config", "-c", required=True)
    silence.add_argument("--db", "--database", help="SQLite database path (default: server.database)")
    who = silence.add_mutually_exclusive_group(required=True)
    who.add_argument("--consumer")
    who.add_argument("--endpoint")
    silence.add_argument("--until", required=True, help="e.g. 2026-12-01T10:00Z")
    silence.add_argument("--reason", default="")
    silence.add_argument("--lock-wait", type=lock_wait, default=CLI_WAIT, help=LOCK_WAIT_HELP)
    silence.set_defaults(func=cmd_silence)

    add_generate_commands(sub, lambda path: _load_or_report(path, command="generate"))

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = Printable(stdout), Printable(stderr)
    try:
        code: int = args.func(args)
        sys.stdout.flush()  # (here, where a closed pipe is caught, not at exit)
    except BrokenPipeError:  # the reader of our output exited first (`| head -1`): stop quietly, no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), stdout.fileno())  # (the flush at exit writes there)
        return EXIT_FAILURE
    finally:
        sys.stdout, sys.stderr = stdout, stderr
    return code


__all__ = ["build_parser", "main"]
