"""What `hostile_soak.py` configures over the farm: one `Variant` per hostile behaviour and probe kind, with
the outcomes a sensible monitor may record for it. The soak repeats the variants round-robin up to
`--endpoints` endpoints, at intervals of 5-15 s."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SECRET = "hunter2-soak-secret-7f3a"
"""Sent in an Authorization header and a query value of every HTTP endpoint; must never show up."""


@dataclass(frozen=True)
class Variant:
    name: str
    kind: str
    spec: str  # YAML flow-mapping fields after name/kind
    outcomes: frozenset[str]


def _v(name: str, kind: str, spec: str, *outcomes: str) -> Variant:
    return Variant(name, kind, spec, frozenset(outcomes))


def variants(farm: Any) -> list[Variant]:
    """`farm`: a `hostile_farm.Farm`, or its `ports()` with `certs.ca_file` (as the soak reads them)."""
    h, t, u = farm.http, farm.tcp, farm.udp
    auth = "headers: {Authorization: 'Bearer ${SOAK_SECRET}'}"

    def http(path: str, *outcomes: str, extra: str = "", port: int = 0, scheme: str = "http", on: str = "") -> Variant:
        url = f"{scheme}://localhost:{port or h}/{path.lstrip('/')}"
        sep = "&" if "?" in url else "?"
        spec = f"url: '{url}{sep}key=${{SOAK_SECRET}}', {auth}" + (f", {extra}" if extra else "")
        return _v(f"http-{path.strip('/').replace('/', '-')}{'-on-' + on if on else ''}", "http", spec, *outcomes)

    out = [
        http("ok", "success"),
        http("flaky", "success", "http_status"),
        http("hang", "timeout"),
        http("slowloris", "timeout"),
        http("trickle", "timeout", "body_too_large", extra="expect: {body: [{contains: 'zzz'}]}"),
        http("close", "protocol_error", "connection_reset"),
        http("close-mid-headers", "protocol_error", "connection_reset"),
        http("reset", "connection_reset", "protocol_error"),
        http("garbage", "protocol_error"),
        http("bad-status", "protocol_error"),
        http("no-colon", "protocol_error"),
        http("bad-chunk", "protocol_error"),
        http("header-flood", "protocol_error"),
        http("huge", "body_too_large"),
        http("100mb", "body_too_large"),
        http("huge-chunked", "body_too_large"),
        http("infinite-chunked", "body_too_large"),
        http("gzip-bomb", "body_too_large"),
        http("loop", "too_many_redirects", extra="max_redirects: 5"),
        http("other-host", "success"),
        http("redirect-ftp", "protocol_error"),
        http("redirect-javascript", "protocol_error"),
        http("redirect-badport", "protocol_error"),
        http("redirect-refused", "connection_refused"),
        http("redirect-tls-expired", "tls_error"),
        http("redirect-nxhost", "dns_error", "timeout"),
        http("redirect-secret", "success"),
        http("echo", "assertion_failed", extra="expect: {body: [{contains: 'never-there'}]}"),
        http("ok", "connection_refused", port=farm.refused, on="refused"),
        http("x", "connection_reset", "protocol_error", port=t["rst"], on="rst"),
        http("x", "protocol_error", port=t["tls-stall"], on="tls-stall"),
    ]
    for variant, port in farm.tls.items():
        want = ("success",) if variant == "good" else ("tls_error",)
        ca = f"tls: {{ca_file: '{farm.certs.ca_file}'}}"
        out.append(_v(f"https-{variant}", "http", f"url: 'https://localhost:{port}/ok', {auth}, {ca}", *want))
        out.append(_v(f"https-{variant}-hang", "http", f"url: 'https://localhost:{port}/hang', {ca}",
                      *(("timeout",) if variant == "good" else ("tls_error",))))  # fmt: skip
        out.append(_v(f"tls-{variant}", "tls", f"host: localhost, port: {port}, ca_file: '{farm.certs.ca_file}'",
                      *(("success",) if variant == "good" else ("tls_error",))))  # fmt: skip
    nocheck = f"url: 'https://localhost:{farm.tls['self_signed']}/ok', tls: {{verify: false}}"
    out.append(_v("https-nocheck-selfsigned", "http", nocheck, "success"))
    for name, port in t.items():
        wanted = {
            "rst": ("connection_reset", "success"), "close": ("connection_reset", "assertion_failed"),
            "tarpit": ("timeout",), "garbage": ("assertion_failed",), "echo": ("success",),
            "banner": ("success",), "tls-stall": ("success",),
        }[name]  # fmt: skip
        send = ", send: 'PING\\r\\n', expect: {contains: '+PONG'}" if name == "echo" else ""
        expect = ", expect: {regex: '^220 '}" if name in ("banner", "garbage", "close", "tarpit") else ""
        out.append(_v(f"tcp-{name}", "tcp", f"host: 127.0.0.1, port: {port}{send}{expect}", *wanted))
        tls_want = {"rst": ("connection_reset", "tls_error"), "close": ("connection_reset", "tls_error"),
                    "tarpit": ("timeout",), "tls-stall": ("timeout", "tls_error")}  # fmt: skip
        if name in tls_want:
            out.append(_v(f"tls-raw-{name}", "tls", f"host: 127.0.0.1, port: {port}", *tls_want[name]))
            out.append(_v(f"grpc-raw-{name}", "grpc", f"host: 127.0.0.1, port: {port}",
                          *tls_want[name], "protocol_error", "connection_reset"))  # fmt: skip
    out += [
        _v("tcp-refused", "tcp", f"host: 127.0.0.1, port: {farm.refused}", "connection_refused"),
        _v("tls-garbage", "tls", f"host: 127.0.0.1, port: {t['garbage']}", "tls_error"),
        _v("tls-plain-http", "tls", f"host: 127.0.0.1, port: {h}", "tls_error", "connection_reset", "timeout"),
        _v("grpc-healthy", "grpc", f"host: 127.0.0.1, port: {farm.grpc['healthy']}, service: orders", "success"),
        _v("grpc-unknown", "grpc", f"host: 127.0.0.1, port: {farm.grpc['healthy']}, service: nope", "unknown_service"),
        _v("grpc-huge", "grpc", f"host: 127.0.0.1, port: {farm.grpc['huge']}", "body_too_large"),
        _v("grpc-http1", "grpc", f"host: 127.0.0.1, port: {h}", "protocol_error", "connection_reset", "timeout"),
        _v("grpc-refused", "grpc", f"host: 127.0.0.1, port: {farm.refused}", "connection_refused"),
        _v(
            "udp-echo",
            "udp",
            f"host: 127.0.0.1, port: {u['echo']}, send: 'PING', expect: {{contains: '+PONG'}}",
            "success",
        ),
        _v(
            "udp-silent",
            "udp",
            f"host: 127.0.0.1, port: {u['silent']}, send: 'PING', expect: {{contains: 'zzz'}}",
            "timeout",
        ),
        _v(
            "udp-garbage",
            "udp",
            f"host: 127.0.0.1, port: {u['garbage']}, send: 'PING', expect: {{contains: 'zzz'}}",
            "assertion_failed",
        ),
        _v(
            "udp-closed",
            "udp",
            f"host: 127.0.0.1, port: {farm.refused}, send: 'PING', expect: {{contains: 'zzz'}}",
            "connection_refused",
        ),
        _v("icmp-loopback", "icmp", "host: 127.0.0.1, count: 2", "success"),
    ]
    dns = {
        "up": ("success",), "nxdomain": ("dns_error",), "servfail": ("dns_error",), "timeout": ("timeout",),
        "garbage": ("protocol_error",), "big": ("success",), "close": ("connection_reset",),
        "huge": ("success", "protocol_error"), "wrongid": ("timeout",),
    }  # fmt: skip
    for name, wanted in dns.items():
        for transport in ("udp", "tcp"):
            if transport == "tcp" and name == "wrongid":
                continue
            ok = wanted if not (transport == "tcp" and name == "close") else ("connection_reset",)
            out.append(_v(f"dns-{name}-{transport}", "dns", f"query: {name}.test, record_type: A, "
                          f"nameserver: '127.0.0.1:{farm.dns}', transport: {transport}", *ok))  # fmt: skip
    steps = (
        f"steps: [{{name: login, url: 'http://localhost:{h}/echo', method: POST, json: {{p: '${{SOAK_SECRET}}'}},"
        " extract: {tok: {json_path: '$.body'}}}, "
        f"{{name: api, url: 'http://localhost:{h}/{{path}}', headers: {{X-Token: '{{{{steps.login.tok}}}}'}}}}]"
    )
    for path, wanted in {
        "ok": ("success",), "hang": ("timeout",), "gzip-bomb": ("body_too_large",), "loop": ("too_many_redirects",),
        "garbage": ("protocol_error",), "redirect-ftp": ("protocol_error",),
    }.items():  # fmt: skip
        out.append(_v(f"txn-{path}", "transaction", steps.replace("{path}", path), *wanted))
    return out


__all__ = ["SECRET", "Variant", "variants"]
