"""Certificates for TLS targets: one trusted CA (trustme) issuing good, expired, not-yet-valid,
wrong-hostname and soon-expiring leaves, a self-signed leaf (cryptography), and a client certificate."""

from __future__ import annotations

import datetime as dt
import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOSTS = ("127.0.0.1", "localhost")
VARIANTS = ("good", "expired", "not_yet_valid", "wrong_host", "self_signed", "expiring")
EXPIRING_IN = dt.timedelta(days=3, hours=1)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


@dataclass(frozen=True)
class CertSet:
    ca_file: Path
    chains: dict[str, tuple[Path, Path]]  # variant -> (cert chain file, key file)
    client: tuple[Path, Path]  # a client certificate issued by the same CA, for mTLS
    expiry: dict[str, float]  # variant -> notAfter (unix seconds)

    def server_context(self, variant: str, require_client_cert: bool = False) -> ssl.SSLContext:
        cert, key = self.chains[variant]
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        if require_client_cert:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(self.ca_file)
        return ctx


def _self_signed(host: str) -> tuple[bytes, bytes, float]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    not_after = _now() + dt.timedelta(days=30)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(days=1))
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem, not_after.timestamp()


def make_certs(directory: Path) -> CertSet:
    ca = trustme.CA()
    now = _now()
    leaves = {
        "good": ca.issue_cert(*HOSTS, not_after=now + dt.timedelta(days=90)),
        "expired": ca.issue_cert(*HOSTS, not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=2)),
        "not_yet_valid": ca.issue_cert(
            *HOSTS, not_before=now + dt.timedelta(days=2), not_after=now + dt.timedelta(days=60)
        ),
        "wrong_host": ca.issue_cert("other.example", not_after=now + dt.timedelta(days=90)),
        "expiring": ca.issue_cert(*HOSTS, not_after=now + EXPIRING_IN),
    }
    ca_file = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    chains: dict[str, tuple[Path, Path]] = {}
    expiry: dict[str, float] = {}
    for variant, leaf in leaves.items():
        cert, key = directory / f"{variant}.pem", directory / f"{variant}.key"
        leaf.private_key_pem.write_to_path(str(key))
        with cert.open("wb") as f:
            for blob in leaf.cert_chain_pems:
                f.write(blob.bytes())
        chains[variant] = (cert, key)
        expiry[variant] = x509.load_pem_x509_certificate(cert.read_bytes()).not_valid_after_utc.timestamp()
    cert_pem, key_pem, not_after = _self_signed("localhost")
    chains["self_signed"] = (directory / "self_signed.pem", directory / "self_signed.key")
    chains["self_signed"][0].write_bytes(cert_pem)
    chains["self_signed"][1].write_bytes(key_pem)
    expiry["self_signed"] = not_after
    client = ca.issue_cert("probe@slowatch.test")
    client_files = (directory / "client.pem", directory / "client.key")
    client.cert_chain_pems[0].write_to_path(str(client_files[0]))
    client.private_key_pem.write_to_path(str(client_files[1]))
    return CertSet(ca_file, chains, client_files, expiry)


__all__ = ["EXPIRING_IN", "HOSTS", "VARIANTS", "CertSet", "make_certs"]
