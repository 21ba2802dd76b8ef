"""Bad edits reloaded by a real `slowatch run`: each must keep the running config and say why.

    .venv/bin/python scripts/reload_audit.py [--limit N]

Starts a local HTTP target and `slowatch run` on a temporary config (two endpoints every 1 s), then for
each hostile edit: writes it, sends SIGHUP, waits for the daemon's verdict in its log, and checks that
the endpoint series on /metrics are the same, probes went on, `slowatch_config_last_reload_successful`
is 0, the log names file:line:col and a field, holds no traceback and no secret. A good edit after
each bad one must apply (a third endpoint appears). Prints one line per case and a summary. `--limit N`
runs only the first N edits (a smoke run: tests/test_audit_smoke.py).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SECRET = "s3cr3t-Sentinel-9f8e7d"


class Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def config(target: int, listen: int, db: Path, *extra: str, tail: str = "") -> str:
    eps = ["first", "second", *extra]
    lines = "".join(f"  - {{name: {n}, kind: http, url: 'http://127.0.0.1:{target}/{n}'}}\n" for n in eps)
    return (
        f"server: {{listen: '127.0.0.1:{listen}', database: '{db}'}}\n"
        "defaults: {interval: 1s, timeout: 500ms}\n"
        f"endpoints:\n{lines}"
        "consumers:\n  - name: shop\n    endpoints: [first, second]\n"
        "    slos: [{name: availability, sli: availability, objective: 99}]\n" + tail
    )


def metrics(listen: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{listen}/metrics", timeout=5) as r:
        text: str = r.read().decode()
        return text


def series(text: str) -> set[str]:
    """Endpoint-labelled series names and labels (values dropped)."""
    return {line.split(" ")[0] for line in text.splitlines() if 'endpoint="' in line and not line.startswith("#")}


def value(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def bad_edits(good: str) -> list[tuple[str, bytes]]:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(97 + i)}: &{chr(97 + i)} [{', '.join(['*' + chr(96 + i)] * 9)}]\n" for i in range(1, 12)
    )
    ep2 = "  - {name: second"
    return [
        ("nan interval", good.replace("interval: 1s", "interval: .nan").encode()),
        ("1e309 timeout", good.replace("timeout: 500ms", "timeout: 1e309").encode()),
        ("5000-digit int", good.replace("interval: 1s", "interval: " + "9" * 5000).encode()),
        (
            "timezone a directory",
            good.replace("objective: 99}", "objective: 99, window: {calendar: month, timezone: Europe}}").encode(),
        ),
        ("duplicate key", good.replace("defaults: {interval: 1s,", "defaults: {interval: 1s, interval: 2s,").encode()),
        ("duplicate endpoint", good.replace(ep2, "  - {name: first").encode()),
        ("unknown endpoint ref", good.replace("endpoints: [first, second]", "endpoints: [first, secnd]").encode()),
        ("tab indent", good.replace("  - {name: second", "\t- {name: second").encode()),
        ("not UTF-8", good.encode().replace(b"first", b"f\xe9rst", 1)),
        ("billion laughs", (bomb + good).encode()),
        ("python tag", good.replace("interval: 1s", "interval: !!python/object/apply:os.system ['true']").encode()),
        ("unset ${VAR}", good.replace("'http://127.0.0.1", "'http://${UNSET_AUDIT_VAR}@127.0.0.1", 1).encode()),
        ("secret in a bad field", good.replace("timeout: 500ms", "timeout: '${AUDIT_SECRET}'").encode()),
        (
            "secret with newline in ref",
            good.replace("endpoints: [first, second]", "endpoints: [first, '${AUDIT_NL}']").encode(),
        ),
        ("empty file", b""),
        ("truncated mid-line", good.encode()[: good.index("consumers:") + 17]),
        ("top-level list", b"- a\n- b\n"),
        ("unknown field", good.replace("defaults:", "defualts:").encode()),
        ("huge string", good.replace("name: shop", "name: " + "a" * 1_000_000).encode()),
    ]


def wait_for(predicate: object, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=0, help="only the first N bad edits")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    target = server.server_address[1]
    failures = ran = 0
    with tempfile.TemporaryDirectory() as tmp:
        path, log, db = Path(tmp) / "slowatch.yaml", Path(tmp) / "log", Path(tmp) / "d.db"
        listen = free_port()
        good = config(target, listen, db)
        path.write_text(good)
        env = {**os.environ, "AUDIT_SECRET": SECRET, "AUDIT_NL": "nl-Zq9x\nmore"}
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "slowatch", "run", "--config", str(path)], stdout=out, stderr=out, env=env
            )
        try:
            if not wait_for(lambda: "endpoint=" in _try(metrics, listen), 30):
                print("daemon did not come up:\n" + log.read_text()[-2000:])
                return 1
            time.sleep(2)
            for round_, (name, raw) in enumerate(bad_edits(good)[: args.limit or None]):
                ran += 1
                before = metrics(listen)
                mark = len(log.read_bytes())
                path.write_bytes(raw)
                proc.send_signal(signal.SIGHUP)
                wait_for(partial(_verdict_logged, log, mark))
                time.sleep(1.5)
                after = metrics(listen)
                said = log.read_bytes()[mark:].decode(errors="replace")
                problems = []
                if value(after, "slowatch_config_last_reload_successful") != 0:
                    problems.append("reload_successful != 0")
                if series(after) != series(before):
                    problems.append(f"series changed: {sorted(series(after) ^ series(before))[:3]}")
                if value(after, "slowatch_probes_total") <= value(before, "slowatch_probes_total"):
                    problems.append("probes stopped")
                if "Traceback" in said:
                    problems.append("traceback in the log")
                if SECRET in said or "Zq9x" in said:
                    problems.append("secret in the log")
                located = re.search(re.escape(str(path)) + r":\d+:\d+[: ]", said)
                if not located and name != "empty file":
                    problems.append("no file:line:col in the log")
                first = next((ln.strip() for ln in said.splitlines() if ln.strip().startswith(str(path))), said[-200:])
                first = first.replace(str(path), "F")
                verdict = "held" if not problems else "FAILED " + "; ".join(problems)
                failures += bool(problems)
                print(f"{name:28} {verdict:10} | {first[:160]}", flush=True)
                # a good edit after the bad one applies
                mark = len(log.read_bytes())
                path.write_text(config(target, listen, db, f"third{round_}"))
                proc.send_signal(signal.SIGHUP)
                applied = wait_for(partial(_shows, listen, f'endpoint="third{round_}"', True), 20)
                if not applied or value(metrics(listen), "slowatch_config_last_reload_successful") != 1:
                    failures += 1
                    print(f"{'':28} FAILED: the good edit after it did not apply")
                path.write_text(good)
                proc.send_signal(signal.SIGHUP)
                wait_for(partial(_shows, listen, f'endpoint="third{round_}"', False), 20)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            server.shutdown()
        tail = log.read_text(errors="replace")
        print(f"traceback anywhere in the log: {'Traceback' in tail}; exit {proc.returncode}")
    print(f"{ran} bad edits, {failures} failures")
    return 1 if failures else 0


def _verdict_logged(log: Path, mark: int) -> bool:
    said = log.read_bytes()[mark:]
    return (
        (b"config reload" in said and b"rejected" in said)
        or b"config reload failed" in said
        or b"config switched" in said
    )


def _shows(listen: int, text: str, wanted: bool) -> bool:
    return (text in _try(metrics, listen)) == wanted


def _try(fn: object, *args: object) -> str:
    try:
        return fn(*args)  # type: ignore[operator,no-any-return]
    except OSError:
        return ""


if __name__ == "__main__":
    sys.exit(main())
