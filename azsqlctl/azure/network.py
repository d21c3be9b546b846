"""Network probes for doctor: DNS, TCP, a TDS PRELOGIN exchange and the TLS handshake.

Each step has its own timeout and returns facts (core judges them). The TLS
handshake is done the way the driver does it: tunnelled in PRELOGIN packets for
TDS 7.x, or TLS first with ALPN ``tds/8.0`` for ``Encrypt=strict``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import struct
import threading
import time
from collections.abc import Mapping

from azsqlctl.core.config import env_name
from azsqlctl.core.errors import ProbeFailed as ProbeError
from azsqlctl.core.netaddr import is_ip
from azsqlctl.core.ports import CertificateFacts, DnsFacts, PreloginFacts
from azsqlctl.protocol import tds
from azsqlctl.protocol.prelogin import (
    ENCRYPT_ON,
    ENCRYPT_STRICT,
    PL_ENCRYPTION,
    PL_FEDAUTHREQUIRED,
    client_prelogin,
    parse_prelogin,
    server_version,
)
from azsqlctl.protocol.tds import PRELOGIN as PACKET_PRELOGIN
from azsqlctl.protocol.tds import frame

HEADER_DNS = struct.Struct(">HHHHHH")  # id, flags, questions, answers, authority, additional
RECORD_DNS = struct.Struct(">HHIH")  # type, class, ttl, data length


def timed_out(error: ProbeError) -> ProbeError:
    """Mark a probe that got no answer in time: unlike a refusal or NXDOMAIN it proves nothing about the target
    (a loaded resolver drops a UDP question; a busy listener's queue is full for a moment)."""
    error.details["timed_out"] = True
    return error


def resolve(host: str, timeout: float, dns_server: str = "") -> DnsFacts:
    start = time.perf_counter()
    if is_ip(host):
        return DnsFacts(host, [host], [], 0.0, "literal")
    if dns_server:
        return _resolve_with(host, timeout, dns_server, start)
    # The system resolver is what the driver uses; CNAMEs (private link) need a DNS query,
    # which /etc/hosts names such as localhost never reach. getaddrinfo cannot be cancelled:
    # it runs in a daemon thread that a timeout or Ctrl-C abandons (an executor would be joined at exit).
    infos = _getaddrinfo(host, timeout)
    addresses = list(dict.fromkeys(str(i[4][0]) for i in infos))
    cnames: list[str] = []
    if host != "localhost" and not host.endswith(".localhost"):
        try:
            cnames = _resolve_with(host, timeout, "", start).cnames
        except ProbeError:
            cnames = []
    return DnsFacts(host, addresses, cnames, (time.perf_counter() - start) * 1000, "system")


AddrInfo = tuple[socket.AddressFamily, socket.SocketKind, int, str, tuple[str, int] | tuple[str, int, int, int] | tuple[int, bytes]]


def _getaddrinfo(host: str, timeout: float) -> list[AddrInfo]:
    done = threading.Event()
    box: dict[str, object] = {}

    def lookup() -> None:
        try:
            box["infos"] = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except OSError as exc:
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=lookup, name="azsqlctl getaddrinfo", daemon=True).start()
    if not done.wait(timeout):
        raise timed_out(ProbeError("dns", f"resolving {host} timed out after {timeout:g} s"))
    error = box.get("error")
    if isinstance(error, socket.gaierror):
        raise ProbeError("dns", f"{host} does not resolve: {error.strerror}")
    if error is not None:
        raise ProbeError("dns", f"resolving {host} failed: {error}")
    infos = box["infos"]
    assert isinstance(infos, list)
    return infos


def _resolve_with(host: str, timeout: float, dns_server: str, start: float) -> DnsFacts:
    """One A query, answered with the CNAME chain; through ``dns_server`` (ip[:port]) or the system's first nameserver.

    A DNS question and its answer are a few dozen bytes (RFC 1035 4.1): framing them here costs
    nothing, where importing dnspython costs ~60-130 ms of a healthy doctor's run.
    """
    if dns_server:
        ip, _, port_text = dns_server.rpartition(":") if dns_server.count(":") == 1 else (dns_server, "", "")
        server, port = ip or dns_server, int(port_text or 53)
    else:
        server, port = _system_nameserver(), 53
    rcode, addresses, cnames = dns_query(host, server, port, timeout)
    if rcode == RCODE_NXDOMAIN:
        raise ProbeError("dns", f"{host} does not resolve (NXDOMAIN)")
    if rcode != 0:
        raise ProbeError("dns", f"resolving {host} failed: {RCODES.get(rcode, f'rcode {rcode}')}")
    if not addresses:
        raise ProbeError("dns", f"{host} has no A record")
    return DnsFacts(host, addresses, cnames, (time.perf_counter() - start) * 1000, f"dns {dns_server}" if dns_server else "system")


RCODE_NXDOMAIN = 3
RCODES = {1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
_TYPE_A, _TYPE_CNAME = 1, 5


def _system_nameserver() -> str:
    try:
        with open("/etc/resolv.conf", encoding="utf-8") as conf:
            for line in conf:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    return parts[1]
    except OSError:
        pass
    return "127.0.0.1"


def _encode_name(host: str) -> bytes:
    try:
        labels = host.rstrip(".").encode("idna").split(b".")
    except UnicodeError:
        raise ProbeError("dns", f"{host} is not a valid DNS name") from None
    if any(not 0 < len(label) < 64 for label in labels):
        raise ProbeError("dns", f"{host} is not a valid DNS name")
    return b"".join(bytes([len(label)]) + label for label in labels) + b"\0"


def _read_name(data: bytes, pos: int) -> tuple[str, int]:
    """A possibly compressed name at ``pos``; returns it and the position after it (in the record)."""
    labels: list[str] = []
    end = -1
    for _ in range(128):  # a pointer loop is malformed, not a hang
        if pos >= len(data):
            break
        length = data[pos]
        if length & 0xC0 == 0xC0:
            if end < 0:
                end = pos + 2
            pos = ((length & 0x3F) << 8) | data[pos + 1]
            continue
        if length == 0:
            return ".".join(labels), (end if end >= 0 else pos + 1)
        labels.append(data[pos + 1 : pos + 1 + length].decode("ascii", "replace"))
        pos += 1 + length
    raise ProbeError("dns", "malformed DNS answer")


def dns_query(host: str, server: str, port: int, timeout: float) -> tuple[int, list[str], list[str]]:
    """(rcode, A addresses, CNAME chain) for one recursive A query over UDP."""
    import secrets

    qid = secrets.randbits(16)
    query = HEADER_DNS.pack(qid, 0x0100, 1, 0, 0, 0) + _encode_name(host) + b"\x00\x01\x00\x01"
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    deadline = time.monotonic() + timeout
    where = f"the DNS server {server}:{port}" if ":" not in server else f"the DNS server [{server}]:{port}"
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            # Connected: the ICMP "port unreachable" of a server that is gone (a stopped sandbox) arrives as
            # ECONNREFUSED at once, instead of a silent wait for the whole timeout.
            sock.connect((server, port))
            sock.send(query)
            while True:
                sock.settimeout(max(0.001, deadline - time.monotonic()))
                data = sock.recv(4096)
                if len(data) >= HEADER_DNS.size and HEADER_DNS.unpack_from(data)[0] == qid:
                    break
    except TimeoutError:
        raise timed_out(ProbeError("dns", f"resolving {host} timed out after {timeout:g} s: {where} did not answer")) from None
    except ConnectionRefusedError:
        failed = ProbeError("dns", f"resolving {host} failed: {where} refused the query (nothing listens there)")
        failed.hint = f"check {env_name('dns_server')} (a sandbox's DNS server is gone when the sandbox stopped), or unset it"
        raise failed from None
    except OSError as exc:
        raise ProbeError("dns", f"resolving {host} through {where} failed: {exc.strerror or exc}") from None
    _qid, flags, questions, answers, _ns, _ar = HEADER_DNS.unpack_from(data)
    pos = HEADER_DNS.size
    for _ in range(questions):
        pos = _read_name(data, pos)[1] + 4
    addresses: list[str] = []
    cnames: list[str] = []
    for _ in range(answers):
        pos = _read_name(data, pos)[1]
        if pos + 10 > len(data):
            raise ProbeError("dns", "malformed DNS answer")
        rtype, _rclass, _ttl, length = RECORD_DNS.unpack_from(data, pos)
        pos += RECORD_DNS.size
        if rtype == _TYPE_A and length == 4:
            addresses.append(socket.inet_ntoa(data[pos : pos + 4]))
        elif rtype == _TYPE_CNAME:
            cnames.append(_read_name(data, pos)[0])
        pos += length
    return flags & 0x000F, addresses, cnames


def tcp_connect(address: str, port: int, timeout: float) -> tuple[socket.socket, float]:
    start = time.perf_counter()
    try:
        sock = socket.create_connection((address, port), timeout=timeout)
    except TimeoutError:
        raise timed_out(ProbeError("tcp", f"TCP connect to {address}:{port} timed out after {timeout:g} s")) from None
    except ConnectionRefusedError:
        raise ProbeError("tcp", f"TCP connect to {address}:{port} refused: nothing listens there") from None
    except OSError as exc:
        raise ProbeError("tcp", f"TCP connect to {address}:{port} failed: {exc.strerror or exc}") from None
    return sock, (time.perf_counter() - start) * 1000


def _recv_exact(sock: socket.socket | ssl.SSLSocket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ProbeError("prelogin", "the server closed the connection")
        buf += chunk
    return bytes(buf)


def _read_packet(sock: socket.socket | ssl.SSLSocket) -> tuple[int, bytes]:
    try:
        ptype, _status, body = tds.read_packet(lambda n: _recv_exact(sock, n))
    except tds.FramingError as exc:
        raise ProbeError("prelogin", f"the server sent a malformed TDS packet: {exc}") from None
    return ptype, body


def _prelogin_facts(options: dict[int, bytes]) -> PreloginFacts:
    enc = options.get(PL_ENCRYPTION, b"\xff")[:1]
    return PreloginFacts(server_version(options), enc[0] if enc else 0xFF, options.get(PL_FEDAUTHREQUIRED, b"\x00")[:1] == b"\x01")


PeerCert = Mapping[str, object] | None  # ssl's decoded certificate: filled only when the chain verified


def _verified_cert_facts(decoded: Mapping[str, object], tls_version: str, host: str) -> CertificateFacts:
    """Facts from the certificate ssl already decoded (the healthy path: no cryptography import, ~50 ms)."""

    def common_name(field: str) -> str:
        rdns = decoded.get(field)
        for rdn in rdns if isinstance(rdns, tuple) else ():
            for key, value in rdn:
                if key == "commonName":
                    return str(value)
        return ""

    names: list[str] = []
    san = decoded.get("subjectAltName")
    for kind, value in san if isinstance(san, tuple) else ():
        if kind == "DNS":
            names.append(str(value))
        elif kind == "IP Address":
            names.append(ipaddress.ip_address(str(value).strip()).compressed)
    not_after = ssl.cert_time_to_seconds(str(decoded["notAfter"]))
    subject = common_name("subject")
    return CertificateFacts(
        subject=subject,
        names=names,
        issuer=common_name("issuer"),
        days_left=int((not_after - time.time()) // 86400),
        tls_version=tls_version,
        verify_error="",
        hostname_matches=_matches(host, names or ([subject] if subject else [])),
    )


def _cert_facts(der: bytes | None, decoded: PeerCert, tls_version: str, verify_error: str, host: str) -> CertificateFacts:
    if decoded and not verify_error:
        return _verified_cert_facts(decoded, tls_version, host)
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    if not der:
        return CertificateFacts("", [], "", 0, tls_version, verify_error, False)
    cert = x509.load_der_x509_certificate(der)
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(n) for n in san.get_values_for_type(x509.DNSName)] + [str(a) for a in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        names = []
    issuer = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    days = (cert.not_valid_after_utc - dt.datetime.now(dt.UTC)).days
    return CertificateFacts(
        subject=str(cn[0].value) if cn else "",
        names=names,
        issuer=str(issuer[0].value) if issuer else "",
        days_left=days,
        tls_version=tls_version,
        verify_error=verify_error,
        hostname_matches=_matches(host, names or ([str(cn[0].value)] if cn else [])),
    )


def _matches(host: str, names: list[str]) -> bool:
    host = host.lower().rstrip(".")
    for name in (n.lower() for n in names):
        if name == host or (name.startswith("*.") and host.count(".") == name.count(".") and host.endswith(name[1:])):
            return True
    return False


def _context(ca_file: str, verify: bool, strict: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca_file or None)
    if not strict:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # what SQL Server tunnels in PRELOGIN
    else:
        ctx.set_alpn_protocols(["tds/8.0"])
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _tunnelled_handshake(sock: socket.socket, ctx: ssl.SSLContext, host: str) -> tuple[bytes | None, PeerCert, str]:
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=host)
    packet_id = 1
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            pass
        data = outgoing.read()
        if data:
            packet_id += 1
            sock.sendall(frame(PACKET_PRELOGIN, data, packet_id))
        ptype, body = _read_packet(sock)
        if ptype != PACKET_PRELOGIN:
            raise ProbeError("tls", f"expected TLS records in PRELOGIN, got packet type {ptype:#x}")
        incoming.write(body)
    if data := outgoing.read():
        sock.sendall(frame(PACKET_PRELOGIN, data, packet_id + 1))
    return tls.getpeercert(binary_form=True), tls.getpeercert(), str(tls.version())


def prelogin_and_tls(
    address: str, port: int, host: str, timeout: float, *, strict: bool = False, ca_file: str = ""
) -> tuple[PreloginFacts, CertificateFacts, float]:
    """PRELOGIN + TLS as the driver does; certificate facts even when verification fails."""
    facts: PreloginFacts | None = None
    start = time.perf_counter()
    verify_error = ""
    decoded: PeerCert
    for verify in (True, False):
        sock, _ = tcp_connect(address, port, timeout)
        try:
            sock.settimeout(timeout)
            if strict:
                try:
                    tls_sock = _context(ca_file, verify, strict=True).wrap_socket(sock, server_hostname=host)
                except ssl.SSLCertVerificationError as exc:
                    verify_error = exc.verify_message or str(exc)
                    continue
                tls_sock.sendall(frame(PACKET_PRELOGIN, client_prelogin(ENCRYPT_STRICT)))
                facts = _prelogin_facts(parse_prelogin(_read_packet(tls_sock)[1]))
                der, decoded, version = tls_sock.getpeercert(binary_form=True), tls_sock.getpeercert(), str(tls_sock.version())
                tls_sock.close()
            else:
                sock.sendall(frame(PACKET_PRELOGIN, client_prelogin(ENCRYPT_ON)))
                ptype, body = _read_packet(sock)
                if ptype != 0x04:
                    raise ProbeError("prelogin", f"unexpected PRELOGIN answer (packet type {ptype:#x}): not a SQL Server?")
                facts = _prelogin_facts(parse_prelogin(body))
                try:
                    der, decoded, version = _tunnelled_handshake(sock, _context(ca_file, verify, strict=False), host)
                except ssl.SSLCertVerificationError as exc:
                    verify_error = exc.verify_message or str(exc)
                    continue
            return facts, _cert_facts(der, decoded, version, verify_error, host), (time.perf_counter() - start) * 1000
        except TimeoutError:
            raise ProbeError("tls" if facts else "prelogin", f"no answer within {timeout:g} s") from None
        except (ssl.SSLError, OSError) as exc:
            raise ProbeError("tls" if facts or strict else "prelogin", f"{type(exc).__name__}: {exc}") from None
        finally:
            sock.close()
    raise ProbeError("tls", verify_error or "TLS handshake failed")
