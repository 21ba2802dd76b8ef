"""HTTPS and the tls probe against good, expired, not-yet-valid, wrong-host, self-signed and soon-expiring
certificates, mTLS, and TLS-hostile servers."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from slowatch.config.schema import Config
from slowatch.models import Outcome
from slowatch.probes import ProbeContext, http, tls
from tests.probes.conftest import MARGIN, http_endpoint, tls_endpoint
from tests.support.certs import CertSet, make_certs, make_chain
from tests.support.hostile import HostileHttp, close_at_once, free_port, garbage, hang, redirect


async def https(serve: Any, certs: CertSet, variant: str, require_client_cert: bool = False) -> int:
    target = await serve(HostileHttp(), certs.server_context(variant, require_client_cert))
    return int(target.port)


async def test_https_success_records_tls_phase_and_cert_expiry(ctx: ProbeContext, serve: Any, certs: CertSet) -> None:
    port = await https(serve, certs, "good")
    endpoint = http_endpoint(f"https://127.0.0.1:{port}/ok", tls={"ca_file": str(certs.ca_file)})
    result = await http.probe(endpoint, ctx)
    assert result.outcome is Outcome.SUCCESS, result.message
    assert result.cert_expiry == pytest.approx(certs.expiry["good"], abs=1)
    assert {"connect", "tls", "processing", "transfer"} <= set(result.phases)
    assert result.final_url == f"https://127.0.0.1:{port}/ok"


@pytest.mark.parametrize(
    ("variant", "message"),
    [
        ("expired", "certificate verify failed: certificate has expired"),
        ("not_yet_valid", "certificate verify failed: certificate is not yet valid"),
        ("wrong_host", "certificate verify failed: IP address mismatch"),
        ("self_signed", "certificate verify failed: self-signed certificate"),
    ],
)
async def test_https_bad_certificates_are_tls_errors(
    ctx: ProbeContext, serve: Any, certs: CertSet, variant: str, message: str
) -> None:
    port = await https(serve, certs, variant)
    endpoint = http_endpoint(f"https://127.0.0.1:{port}/ok", tls={"ca_file": str(certs.ca_file)}, timeout=0.5)
    result = await http.probe(endpoint, ctx)
    assert result.outcome is Outcome.TLS_ERROR
    assert result.message.startswith(message), result.message


async def test_https_untrusted_ca_without_ca_file(ctx: ProbeContext, serve: Any, certs: CertSet) -> None:
    port = await https(serve, certs, "good")
    result = await http.probe(http_endpoint(f"https://127.0.0.1:{port}/ok"), ctx)
    assert result.outcome is Outcome.TLS_ERROR
    assert result.message == "certificate verify failed: unable to get local issuer certificate"


async def test_https_verify_off_accepts_expired_and_still_reads_expiry(
    ctx: ProbeContext, serve: Any, certs: CertSet
) -> None:
    port = await https(serve, certs, "expired")
    result = await http.probe(http_endpoint(f"https://127.0.0.1:{port}/ok", tls={"verify": False}), ctx)
    assert result.outcome is Outcome.SUCCESS, result.message
    assert result.cert_expiry == pytest.approx(certs.expiry["expired"], abs=1)


async def test_mtls_client_certificate(ctx: ProbeContext, serve: Any, certs: CertSet) -> None:
    port = await https(serve, certs, "good", require_client_cert=True)
    cert, key = certs.client
    tls_opts = {"ca_file": str(certs.ca_file), "cert_file": str(cert), "key_file": str(key)}
    with_cert = await http.probe(http_endpoint(f"https://127.0.0.1:{port}/ok", tls=tls_opts), ctx)
    assert with_cert.outcome is Outcome.SUCCESS, with_cert.message
    without = await http.probe(http_endpoint(f"https://127.0.0.1:{port}/ok", tls={"ca_file": str(certs.ca_file)}), ctx)
    # TLS 1.3: the server rejects the missing certificate after the client's handshake is done, and
    # the client only sees the connection close
    assert (without.outcome, without.message) == (
        Outcome.CONNECTION_RESET,
        f"127.0.0.1:{port} closed the connection without a response",
    )


async def test_https_to_a_non_tls_server_is_tls_error(ctx: ProbeContext, serve: Any) -> None:
    target = await serve(garbage)
    result = await http.probe(http_endpoint(f"https://127.0.0.1:{target.port}/ok", timeout=0.5), ctx)
    assert result.outcome is Outcome.TLS_ERROR
    assert result.message.startswith("TLS handshake failed"), result.message


async def test_https_to_a_server_that_never_handshakes_times_out(ctx: ProbeContext, serve: Any) -> None:
    target = await serve(hang)
    t0 = time.monotonic()
    result = await http.probe(http_endpoint(f"https://127.0.0.1:{target.port}/ok", timeout=0.4), ctx)
    assert time.monotonic() - t0 <= 0.4 + MARGIN
    assert (result.outcome, result.message) == (Outcome.TIMEOUT, "timed out after 0.4s connecting (TCP/TLS)")


# --- the tls probe -----------------------------------------------------------------------------


async def tls_port(serve: Any, certs: CertSet, variant: str) -> int:
    target = await serve(hang, certs.server_context(variant))
    return int(target.port)


async def test_tls_probe_success(ctx: ProbeContext, serve: Any, certs: CertSet) -> None:
    port = await tls_port(serve, certs, "good")
    result = await tls.probe(tls_endpoint(port, ca_file=str(certs.ca_file)), ctx)
    assert result.outcome is Outcome.SUCCESS, result.message
    assert result.kind == "tls"
    assert result.cert_expiry == pytest.approx(certs.expiry["good"], abs=1)
    assert {"resolve", "connect", "tls"} <= set(result.phases)


async def test_tls_probe_certificate_expiring(ctx: ProbeContext, serve: Any, certs: CertSet) -> None:
    port = await tls_port(serve, certs, "expiring")
    endpoint = tls_endpoint(port, host="localhost", ca_file=str(certs.ca_file))
    result = await tls.probe(endpoint, ctx)
    assert result.outcome is Outcome.CERTIFICATE_EXPIRING
    assert result.message == "certificate for localhost expires in 3 days"
    assert result.cert_expiry == pytest.approx(certs.expiry["expiring"], abs=1)
    relaxed = await tls.probe(tls_endpoint(port, ca_file=str(certs.ca_file), expiry_threshold="3d"), ctx)
    assert relaxed.outcome is Outcome.SUCCESS


async def test_tls_probe_server_name_overrides_sni_and_hostname_check(
    ctx: ProbeContext, serve: Any, certs: CertSet
) -> None:
    port = await tls_port(serve, certs, "wrong_host")
    endpoint = tls_endpoint(port, server_name="other.example", ca_file=str(certs.ca_file))
    assert (await tls.probe(endpoint, ctx)).outcome is Outcome.SUCCESS
    plain = await tls.probe(tls_endpoint(port, host="localhost", ca_file=str(certs.ca_file)), ctx)
    assert plain.outcome is Outcome.TLS_ERROR
    assert plain.message.startswith("certificate verify failed: Hostname mismatch"), plain.message


@pytest.mark.parametrize(
    ("variant", "message"),
    [
        ("expired", "certificate verify failed: certificate has expired"),
        ("not_yet_valid", "certificate verify failed: certificate is not yet valid"),
        ("self_signed", "certificate verify failed: self-signed certificate"),
    ],
)
async def test_tls_probe_bad_certificates(
    ctx: ProbeContext, serve: Any, certs: CertSet, variant: str, message: str
) -> None:
    port = await tls_port(serve, certs, variant)
    result = await tls.probe(tls_endpoint(port, host="localhost", ca_file=str(certs.ca_file)), ctx)
    assert result.outcome is Outcome.TLS_ERROR
    assert result.message == message


async def test_tls_probe_expired_without_verification(ctx: ProbeContext, serve: Any, certs: CertSet) -> None:
    port = await tls_port(serve, certs, "expired")
    result = await tls.probe(tls_endpoint(port, verify=False), ctx)
    assert result.outcome is Outcome.CERTIFICATE_EXPIRING
    assert result.message == "certificate for 127.0.0.1 expired 2 days ago"


@pytest.mark.parametrize(
    ("days", "verify", "earliest", "left"),
    [
        ({"intermediate_days": 5}, True, "intermediate", "4 days"),
        ({"intermediate_days": 5}, False, "intermediate", "4 days"),
        ({"root_days": 4, "intermediate_days": 60}, True, "root", "3 days"),  # the verified chain ends at the root
        ({"root_days": 4, "intermediate_days": 60}, False, "intermediate", None),  # unverified: what the server sent
    ],
)
async def test_the_earliest_expiry_in_the_chain_counts_not_the_leafs(
    ctx: ProbeContext, serve: Any, tmp_path: Path, days: dict[str, int], verify: bool, earliest: str, left: str | None
) -> None:
    chain = make_chain(tmp_path, **days)
    port = (await serve(hang, chain.server_context())).port
    endpoint = tls_endpoint(port, host="localhost", ca_file=str(chain.ca_file), verify=verify, expiry_threshold="30d")
    result = await tls.probe(endpoint, ctx)
    assert result.cert_expiry == pytest.approx(chain.expiry[earliest], abs=1)
    if left is None:
        assert result.outcome is Outcome.SUCCESS, result.message
    else:
        assert result.outcome is Outcome.CERTIFICATE_EXPIRING
        assert result.message == f"certificate 'slowatch test {earliest}' in the chain of localhost expires in {left}"
    https_port = (await serve(HostileHttp(), chain.server_context())).port
    tls_options = {"ca_file": str(chain.ca_file), "verify": verify}
    page = await http.probe(http_endpoint(f"https://localhost:{https_port}/ok", tls=tls_options), ctx)
    assert page.outcome is Outcome.SUCCESS, page.message
    assert page.cert_expiry == pytest.approx(chain.expiry[earliest], abs=1)


@pytest.mark.parametrize(
    ("handler", "outcome", "message"),
    [
        (hang, Outcome.TIMEOUT, "no TLS handshake with 127.0.0.1:{port} within 0.4s"),
        (garbage, Outcome.TLS_ERROR, "TLS handshake failed: WRONG_VERSION_NUMBER"),
        (close_at_once, Outcome.CONNECTION_RESET, "connection reset by 127.0.0.1:{port}"),
    ],
)
async def test_tls_probe_hostile_servers(
    ctx: ProbeContext, serve: Any, handler: Any, outcome: Outcome, message: str
) -> None:
    target = await serve(handler)
    t0 = time.monotonic()
    result = await tls.probe(tls_endpoint(target.port, timeout=0.4), ctx)
    assert time.monotonic() - t0 <= 0.4 + MARGIN
    assert (result.outcome, result.message) == (outcome, message.format(port=target.port))


async def test_tls_probe_refused_and_missing_ca_file(ctx: ProbeContext) -> None:
    port = free_port()
    refused = await tls.probe(tls_endpoint(port), ctx)
    assert (refused.outcome, refused.message) == (Outcome.CONNECTION_REFUSED, f"connection refused by 127.0.0.1:{port}")
    missing = await tls.probe(tls_endpoint(port, ca_file="/nonexistent.pem"), ctx)
    assert (missing.outcome, missing.message) == (
        Outcome.ERROR,
        "cannot load TLS files: No such file or directory: /nonexistent.pem",
    )


async def test_garbage_ca_file_is_a_setup_error(ctx: ProbeContext, serve: Any, tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    target = await serve(hang)
    result = await tls.probe(tls_endpoint(target.port, ca_file=str(bad)), ctx)
    assert result.outcome is Outcome.ERROR
    assert result.message.startswith("cannot load TLS files: "), result.message
    https = await http.probe(http_endpoint(f"https://127.0.0.1:{target.port}/", tls={"ca_file": str(bad)}), ctx)
    assert (https.outcome, https.message) == (result.outcome, result.message)


def test_expires_in_wording() -> None:
    assert tls.expires_in(3 * 86400 + 3600) == "expires in 3 days"
    assert tls.expires_in(86400) == "expires in 1 day"
    assert tls.expires_in(5 * 3600 + 59) == "expires in 5 hours"
    assert tls.expires_in(-2.5 * 86400) == "expired 2 days ago"


async def test_a_ca_file_rotated_with_the_same_mtime_is_picked_up(
    ctx: ProbeContext, serve: Any, certs: CertSet, tmp_path: Path
) -> None:
    """The contexts were keyed by the files' mtimes only: a CA bundle replaced by one with the same mtime
    (`cp -p` / `rsync -t` of files built with a fixed SOURCE_DATE_EPOCH) kept the old CA's context."""
    (tmp_path / "rotated").mkdir()
    rotated = make_certs(tmp_path / "rotated")
    ca = tmp_path / "ca.pem"
    ca.write_bytes(certs.ca_file.read_bytes())
    old = await https(serve, certs, "good")
    assert (await http.probe(http_endpoint(f"https://127.0.0.1:{old}/ok", tls={"ca_file": str(ca)}), ctx)).ok
    mtime = ca.stat().st_mtime_ns
    new = await https(serve, rotated, "good")
    ca.write_bytes(rotated.ca_file.read_bytes())
    os.utime(ca, ns=(mtime, mtime))
    result = await http.probe(http_endpoint(f"https://127.0.0.1:{new}/ok", tls={"ca_file": str(ca)}), ctx)
    assert result.outcome is Outcome.SUCCESS, result.message


async def test_a_ca_file_rotated_while_running_is_picked_up_by_the_same_endpoint(
    ctx: ProbeContext, serve: Any, certs: CertSet, tmp_path: Path
) -> None:
    """A probe's request options are built once per endpoint object, and a reload keeps the objects of the
    endpoints it did not change: their TLS context, built once, kept a rotated CA out until a restart."""
    (tmp_path / "rotated").mkdir()
    rotated = make_certs(tmp_path / "rotated")
    ca = tmp_path / "ca.pem"
    ca.write_bytes(certs.ca_file.read_bytes())
    server = await serve(HostileHttp(), certs.server_context("good"))
    endpoint = http_endpoint(f"https://127.0.0.1:{server.port}/ok", tls={"ca_file": str(ca)})
    assert (await http.probe(endpoint, ctx)).ok
    ca.write_bytes(rotated.ca_file.read_bytes())  # the server's CA is no longer trusted
    result = await http.probe(endpoint, ctx)
    assert result.outcome is Outcome.TLS_ERROR, result.message


async def test_https_server_name_checks_the_certificate_of_a_backend_probed_by_its_address(
    ctx: ProbeContext, serve: Any, certs: CertSet
) -> None:
    """`tls.server_name` (blackbox_exporter's `tls_config.server_name`): a backend probed at 127.0.0.1 serving
    the certificate of `other.example` verifies against that name, sent as SNI; a redirect to another origin
    checks that origin's own name, not the configured one."""
    port = await https(serve, certs, "wrong_host")
    tls_options = {"ca_file": str(certs.ca_file), "server_name": "other.example"}
    result = await http.probe(http_endpoint(f"https://127.0.0.1:{port}/ok", tls=tls_options), ctx)
    assert result.outcome is Outcome.SUCCESS, result.message
    assert result.cert_expiry == pytest.approx(certs.expiry["wrong_host"], abs=1)
    good = await https(serve, certs, "good")  # a certificate for 127.0.0.1 and localhost, not other.example
    hop = HostileHttp(routes={"/away": redirect(lambda req: f"https://localhost:{good}/ok")})
    away = (await serve(hop, certs.server_context("wrong_host"))).port
    moved = await http.probe(http_endpoint(f"https://127.0.0.1:{away}/away", tls=tls_options), ctx)
    assert moved.outcome is Outcome.SUCCESS, moved.message
    assert moved.final_url == f"https://localhost:{good}/ok"


async def test_https_server_name_is_kept_on_a_redirect_to_the_same_origin_spelled_without_its_default_port(
    ctx: ProbeContext, certs: CertSet
) -> None:
    """`https://addr:443/` and `https://addr/` are one origin: a redirect between them (a server writes its absolute
    Location without the default port) still checks the configured `server_name` (yarl's `origin()` of the two
    differs, which read as another origin: the certificate was checked against the address, a `tls_error`)."""
    hop = HostileHttp(routes={"/away": redirect(lambda req: "https://127.0.0.2/ok")})
    try:
        server = await asyncio.start_server(hop, "127.0.0.2", 443, ssl=certs.server_context("wrong_host"))
    except OSError as e:  # not root, or 443 taken
        pytest.skip(f"cannot listen on 127.0.0.2:443: {e}")
    try:
        tls_options = {"ca_file": str(certs.ca_file), "server_name": "other.example"}
        result = await http.probe(http_endpoint("https://127.0.0.2:443/away", tls=tls_options), ctx)
        assert result.outcome is Outcome.SUCCESS, result.message
        assert result.final_url == "https://127.0.0.2/ok"
    finally:
        server.close()
        await server.wait_closed()


def test_server_name_is_refused_where_it_would_do_nothing() -> None:
    step = {"name": "s", "url": "https://127.0.0.1/"}
    for endpoint, message in (
        (
            {"kind": "transaction", "steps": [step], "tls": {"server_name": "a.example"}},
            "server_name is for kind: http",
        ),
        ({"kind": "grpc", "host": "h", "port": 1, "tls": {"server_name": "a.example"}}, "beside `tls`"),
    ):
        with pytest.raises(ValidationError, match=message):
            Config.model_validate({"endpoints": [{"name": "e", **endpoint}]})
