"""The sandbox's private CA and the leaf certificate its TDS and HTTPS endpoints present.

One CA per sandbox directory, kept on disk so separate runs (and the env file a
user sourced earlier) keep trusting the same root.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from azsqlctl.atomic_file import SECRET, private_dir, write_atomic

HOSTNAMES = ("localhost",)
ADDRESSES = ("127.0.0.1",)


@dataclass(frozen=True)
class CertPaths:
    ca_cert: Path
    leaf_cert: Path  # leaf followed by the CA, as servers send the chain
    leaf_key: Path


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def ensure_certificates(directory: Path, server_name: str) -> CertPaths:
    """Create the CA and a leaf for localhost/127.0.0.1 unless present and still valid.

    The directory is 0700 and the key 0600 from its creation (never written wider and narrowed later).
    """
    private_dir(directory, tighten=True)
    paths = CertPaths(directory / "sandbox-ca.pem", directory / "sandbox-server.pem", directory / "sandbox-server.key")
    if all(p.exists() for p in (paths.ca_cert, paths.leaf_cert, paths.leaf_key)):
        leaf = x509.load_pem_x509_certificate(paths.leaf_cert.read_bytes())
        if leaf.not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(days=1):
            return paths
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    ca_key = _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "azsqlctl sandbox CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = _key()
    sans: list[x509.GeneralName] = [x509.DNSName(h) for h in HOSTNAMES]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in ADDRESSES]
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    del server_name  # the certificate names where the sandbox listens, not the logical server
    pem = serialization.Encoding.PEM
    write_atomic(paths.leaf_key, _pem_key(leaf_key), SECRET)  # the key first: a cert never names a key not yet there
    write_atomic(paths.ca_cert, ca.public_bytes(pem), 0o644)  # certificates are public
    write_atomic(paths.leaf_cert, leaf.public_bytes(pem) + ca.public_bytes(pem), 0o644)
    return paths


def server_context(paths: CertPaths, *, tds: bool, alpn: str | None = None) -> ssl.SSLContext:
    """A server-side context. TDS 7.x tunnelling is capped at TLS 1.2 as SQL Server does:
    with 1.3 the driver sends its last handshake records outside PRELOGIN.

    One context per kind and version of the certificate files, shared (an SSLContext serves any number of
    listeners and threads): loading the key costs ~1 ms, five times per sandbox, which a process that starts many
    sandboxes over the same keys (a test session, the pytest plugin) paid for each. A certificate written anew
    (write_atomic renames a new file into place) is a new version, so it is never served stale."""
    versions = tuple((st.st_ino, st.st_mtime_ns, st.st_size) for st in (paths.leaf_cert.stat(), paths.leaf_key.stat()))
    return _server_context(paths.leaf_cert, paths.leaf_key, versions, tds, alpn)


@functools.lru_cache(maxsize=32)
def _server_context(
    leaf_cert: Path, leaf_key: Path, versions: tuple[tuple[int, int, int], ...], tds: bool, alpn: str | None
) -> ssl.SSLContext:
    del versions  # part of the cache key only
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if tds and alpn is None:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_TICKET
    ctx.load_cert_chain(leaf_cert, leaf_key)
    if alpn:
        ctx.set_alpn_protocols([alpn])
    return ctx
