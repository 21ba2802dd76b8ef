"""Certificates for TLS targets: one trusted CA (trustme) issuing good, expired, not-yet-valid,
wrong-hostname and soon-expiring leaves, a self-signed leaf (cryptography), and a client certificate;
`make_chain`: a root, an intermediate and a leaf with chosen lifetimes (cryptography)."""

from __future__ import annotations

import datetime as dt
import ipaddress
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


@dataclass(frozen=True)
class Chain:
    ca_file: Path  # the root only: the intermediate must come from the server
    cert_file: Path  # leaf, then intermediate
    key_file: Path
    expiry: dict[str, float]  # "leaf", "intermediate", "root" -> notAfter (unix seconds)

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx


def _issue(
    subject: str, issuer: str, issuer_key: ec.EllipticCurvePrivateKey, key: ec.EllipticCurvePrivateKey, days: int
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(days=1))
        .not_valid_after(_now() + dt.timedelta(days=days))
    )
    if subject in HOSTS:  # the leaf
        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    else:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    return builder.sign(issuer_key, hashes.SHA256())


def make_chain(directory: Path, root_days: int = 3650, intermediate_days: int = 5, leaf_days: int = 90) -> Chain:
    """root -> "slowatch test intermediate" -> leaf for localhost and 127.0.0.1; the server sends leaf and
    intermediate."""
    root_key, inter_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = _issue("slowatch test root", "slowatch test root", root_key, root_key, root_days)
    inter = _issue("slowatch test intermediate", "slowatch test root", root_key, inter_key, intermediate_days)
    leaf = _issue("localhost", "slowatch test intermediate", inter_key, leaf_key, leaf_days)
    pem = serialization.Encoding.PEM
    chain = Chain(directory / "chain-ca.pem", directory / "chain.pem", directory / "chain.key", {
        "root": root.not_valid_after_utc.timestamp(),
        "intermediate": inter.not_valid_after_utc.timestamp(),
        "leaf": leaf.not_valid_after_utc.timestamp(),
    })  # fmt: skip
    chain.ca_file.write_bytes(root.public_bytes(pem))
    chain.cert_file.write_bytes(leaf.public_bytes(pem) + inter.public_bytes(pem))
    chain.key_file.write_bytes(
        leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return chain


__all__ = ["EXPIRING_IN", "HOSTS", "VARIANTS", "CertSet", "Chain", "make_certs", "make_chain"]
