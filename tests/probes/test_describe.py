"""describe(): the human rendering `slowatch probe` prints."""

from __future__ import annotations

from slowatch.models import Outcome, ProbeResult
from slowatch.probes.describe import describe

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def test_full_http_result() -> None:
    result = ProbeResult(
        endpoint="api",
        kind="http",
        outcome=Outcome.ASSERTION_FAILED,
        started_at=NOW,
        duration=0.1234,
        message='$.status was "degraded", expected "up"',
        status_code=200,
        phases={"transfer": 0.0021, "connect": 0.0012, "tls": 0.0345, "processing": 0.08, "resolve": 0.0005},
        cert_expiry=NOW + 3 * 86400 + 7200,
        final_url="https://api.example/health",
    )
    assert describe(result, now=NOW) == "\n".join(
        [
            "api (http): assertion_failed in 123.4 ms",
            '  message:     $.status was "degraded", expected "up"',
            "  status:      200",
            "  phases:      resolve 0.5 ms, connect 1.2 ms, tls 34.5 ms, processing 80.0 ms, transfer 2.1 ms",
            "  certificate: expires 2026-01-04 02:00 UTC (3 days left)",
            "  final URL:   https://api.example/health",
        ]
    )


def test_minimal_and_expired_and_retried() -> None:
    ok = ProbeResult(endpoint="db", kind="tcp", outcome=Outcome.SUCCESS, started_at=NOW, duration=0.002)
    assert describe(ok, now=NOW) == "db (tcp): success in 2.0 ms"
    expired = ProbeResult(
        endpoint="edge",
        kind="tls",
        outcome=Outcome.CERTIFICATE_EXPIRING,
        started_at=NOW,
        duration=0.01,
        message="certificate for edge.example expired 1 day ago",
        cert_expiry=NOW - 86400 - 60,
        attempt=2,
        final=False,
    )
    lines = describe(expired, now=NOW).splitlines()
    assert lines[2] == "  certificate: expires 2025-12-30 23:59 UTC (expired 1 day ago)"
    assert lines[3] == "  attempt:     2 (retried)"
