"""core/ports.py: the little behaviour the ports carry - reading integer and binary columns of a row, the access
token's claims, its ODBC attribute struct and a repr that never shows it - and the facts' fields as the
boundary fills them."""

from __future__ import annotations

import json

import pytest

from azsqlctl.core import jwt
from azsqlctl.core.ports import (
    AccessToken,
    CertificateFacts,
    DnsFacts,
    DriverInfo,
    FirewallRuleFacts,
    PreloginFacts,
    ServerFacts,
    row_bytes,
    row_int,
)


def test_integer_columns() -> None:
    assert (row_int(5), row_int("16384"), row_int(7.0), row_int(True)) == (5, 16384, 7, 1)
    with pytest.raises(TypeError, match=r"^expected an integer column, got bytes$"):
        row_int(b"\x01")
    with pytest.raises(TypeError, match=r"^expected an integer column, got NoneType$"):
        row_int(None)


def test_binary_columns() -> None:
    assert row_bytes(b"\x01\x02") == b"\x01\x02"
    assert row_bytes(bytearray(b"\x03")) == b"\x03" and type(row_bytes(bytearray(b"\x03"))) is bytes
    assert row_bytes(memoryview(b"\x04")) == b"\x04"
    assert row_bytes(None) is None and row_bytes("0x01") is None and row_bytes(1) is None


def token_text(claims: dict[str, object]) -> str:
    return ".".join(jwt.b64url_encode(json.dumps(p).encode()) for p in ({"alg": "none"}, claims)) + ".c2ln"


def test_the_access_token() -> None:
    text = token_text({"aud": "https://database.windows.net/", "oid": "o1"})
    token = AccessToken(text, 1700000000, "ManagedIdentityCredential", 12.5)
    assert token.attempts == ()
    assert token.claims == {"aud": "https://database.windows.net/", "oid": "o1"}
    assert text not in repr(token) and "ManagedIdentityCredential" in repr(token)
    data = text.encode("utf-16-le")
    assert token.odbc_struct() == len(data).to_bytes(4, "little") + data
    assert AccessToken("é", 0, "c", 0).odbc_struct() == b"\x02\x00\x00\x00\xe9\x00"  # length in bytes, little-endian


def test_facts_carry_every_field_the_boundary_fills() -> None:
    dns = DnsFacts(host="h", addresses=["10.0.0.1"], cnames=["a"], elapsed_ms=1.0, resolver="system")
    assert (dns.host, dns.addresses, dns.cnames, dns.elapsed_ms, dns.resolver) == ("h", ["10.0.0.1"], ["a"], 1.0, "system")
    pre = PreloginFacts(version="12.0", encryption=1, fedauth_required=True)
    assert (pre.version, pre.encryption, pre.fedauth_required) == ("12.0", 1, True)
    cert = CertificateFacts(
        subject="s", names=["n"], issuer="i", days_left=3, tls_version="TLSv1.3", verify_error="", hostname_matches=True
    )
    assert (cert.subject, cert.names, cert.issuer, cert.days_left, cert.tls_version, cert.verify_error, cert.hostname_matches) == (
        "s", ["n"], "i", 3, "TLSv1.3", "", True,
    )  # fmt: skip
    rule = FirewallRuleFacts(name="r", start_ip="1.1.1.1", end_ip="1.1.1.2")
    assert (rule.name, rule.start_ip, rule.end_ip) == ("r", "1.1.1.1", "1.1.1.2")
    server = ServerFacts(
        name="n", fqdn="f", public_network_access="Enabled", minimal_tls_version="1.2", admin_login="a", admin_sid="sid",
        admin_type="ActiveDirectory", admin_tenant="t", entra_only=True, identity_type="SystemAssigned", firewall_rules=[rule],
        database_exists=None,
    )  # fmt: skip
    assert (server.name, server.fqdn, server.public_network_access, server.minimal_tls_version, server.admin_login) == (
        "n", "f", "Enabled", "1.2", "a",
    )  # fmt: skip
    assert (server.admin_sid, server.admin_type, server.admin_tenant, server.entra_only, server.identity_type) == (
        "sid", "ActiveDirectory", "t", True, "SystemAssigned",
    )  # fmt: skip
    assert (server.firewall_rules, server.database_exists) == ([rule], None)
    driver = DriverInfo(spec="ODBC Driver 18 for SQL Server", source="pyodbc.drivers()", version="18")
    assert (driver.spec, driver.source, driver.version) == ("ODBC Driver 18 for SQL Server", "pyodbc.drivers()", "18")
