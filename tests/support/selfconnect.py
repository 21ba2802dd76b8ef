"""Run in a network namespace of its own (`unshare -rn`, see tests/probes/test_self_connect.py): probe
127.0.0.1:P of each kind and loop named on the command line while P is the only ephemeral port, so that the
probe's socket can only connect to itself (TCP simultaneous open). Prints one JSON line per probe.

    python -m tests.support.selfconnect FIRST_PORT KIND:LOOP ...
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from slowatch import loops
from slowatch.alerting.service import default_session
from slowatch.alerting.sinks import build_sinks
from slowatch.clock import SystemClock
from slowatch.config import load_text
from slowatch.config.endpoints import TransactionEndpoint
from slowatch.probes import ProbeContext, make_session, probe_once
from tests.support.endpoints import http_endpoint, tcp_endpoint, tls_endpoint

RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def endpoint(kind: str, port: int) -> Any:
    if kind == "tcp":
        return tcp_endpoint(port)
    if kind == "tcp-banner":
        return tcp_endpoint(port, send="PING\\r\\n", expect={"contains": "+PONG"})
    if kind == "tls":
        return tls_endpoint(port)
    if kind in ("http", "https"):
        return http_endpoint(f"{kind}://127.0.0.1:{port}/")
    assert kind == "transaction", kind
    step = {"name": "get", "url": f"http://127.0.0.1:{port}/"}
    return TransactionEndpoint.model_validate(
        {"kind": "transaction", "name": "t", "interval": 10, "timeout": 1, "steps": [step]}
    )


async def deliver(port: int) -> dict[str, Any]:
    """A webhook sink's test notification through the sinks' own session (alerting.service.default_session)."""
    text = f"sinks:\n  hook: {{kind: webhook, url: 'http://127.0.0.1:{port}/'}}\nroutes: [{{sinks: [hook]}}]\n"
    sink = build_sinks(load_text(text))["hook"]
    async with default_session() as session:
        attempt = await sink.send(session, [], test=True)
    return {"outcome": "success" if attempt.ok else "failed", "message": attempt.error}


async def probe(kind: str, port: int) -> dict[str, Any]:
    if kind == "sink":
        return await deliver(port)
    async with make_session() as session:
        result = await probe_once(endpoint(kind, port), ProbeContext(session=session, clock=SystemClock()))
    return {"outcome": result.outcome.value, "message": result.message}


def main() -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    port = int(sys.argv[1])
    for case in sys.argv[2:]:
        kind, loop = case.split(":")
        RANGE.write_text(f"{port} {port}\n")  # one port per probe: the last one's stays in TIME_WAIT
        print(json.dumps({"case": case, "port": port, **loops.run(probe(kind, port), loop)}), flush=True)
        port += 2


if __name__ == "__main__":
    main()
