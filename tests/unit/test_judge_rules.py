"""doctor's judge, rule by rule and at each boundary: token, DNS, TLS certificate, server settings (facts in, no I/O)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from azsqlctl.core import jwt
from azsqlctl.core.clouds import BUILTIN
from azsqlctl.core.doctor.judge import EXPIRY_WARNING, cloud_of_host, judge_dns, judge_server, judge_tls, judge_token, mi_name
from azsqlctl.core.doctor.schedule import Status, Stop
from azsqlctl.core.identity import TokenIdentity
from azsqlctl.core.ports import CertificateFacts, DnsFacts, FirewallRuleFacts, ServerFacts

CLOUD = BUILTIN["AzureCloud"]
HOST = "srv.database.windows.net"
APP = "6e3f0a4e-1b2c-4d5e-8f90-123456789abc"
OID = "0b2c3d4e-5f60-4a1b-8c9d-0e1f2a3b4c5d"
NOW = 1_800_000_000


def token(**claims: object) -> str:
    body: dict[str, object] = {
        "aud": "https://database.windows.net/", "tid": "t1", "oid": OID, "appid": APP, "idtyp": "app",
        "exp": NOW + 3600, "nbf": NOW,
    }  # fmt: skip
    body.update(claims)
    return ".".join(jwt.b64url_encode(json.dumps(p).encode()) for p in ({"alg": "RS256"}, body)) + ".c2ln"


def test_a_good_token_passes_with_its_evidence() -> None:
    outcome, ident = judge_token(token(xms_mirid="/subscriptions/s/x/userAssignedIdentities/api-mi/", groups=["g1"]), CLOUD, HOST, NOW)
    assert outcome.status == Status.PASS and ident is not None
    assert outcome.finding == f"app api-mi, tenant t1; Azure SQL will look for a user with SID {ident.sid_hex}"
    assert outcome.fix == ""
    ev = outcome.evidence
    assert (ev["aud"], ev["tid"], ev["oid"], ev["appid"], ev["idtyp"], ev["name"]) == (
        "https://database.windows.net/", "t1", OID, APP, "app", "api-mi",
    )  # fmt: skip
    assert (ev["exp"], ev["seconds_left"], ev["sid"], ev["matched_by"], ev["groups"]) == (
        NOW + 3600,
        3600,
        APP,
        "client id (appid)",
        ["g1"],
    )
    user, _ = judge_token(token(idtyp="user", upn="ann@x", appid=APP), CLOUD, HOST, NOW)
    assert user.evidence["matched_by"] == "object id (oid)" and user.finding.startswith("user ann@x, tenant t1")
    assert "groups" not in user.evidence
    nameless, _ = judge_token(token(), CLOUD, HOST, NOW)
    assert nameless.finding.startswith(f"app {APP}, tenant t1")


def test_certificate_expiry_warning_at_its_boundary() -> None:
    for left, status in ((EXPIRY_WARNING, Status.PASS), (EXPIRY_WARNING - 1, Status.WARN), (1, Status.WARN)):
        outcome, _ = judge_token(token(exp=NOW + left), CLOUD, HOST, NOW)
        assert outcome.status == status, left
    warn, _ = judge_token(token(exp=NOW + 10), CLOUD, HOST, NOW)
    assert warn.finding.endswith("; expires in 10 s")
    assert warn.fix == "refresh tokens before expiry (azure-identity does 5 minutes ahead)"


def test_expired_and_not_yet_valid_tokens_fail() -> None:
    expired, _ = judge_token(token(exp=NOW), CLOUD, HOST, NOW)
    assert expired.status == Status.FAIL
    assert expired.finding == f"the token expired 0 s ago (exp {NOW}): clock skew or a stale cached token"
    assert "NTP" in expired.fix
    late, _ = judge_token(token(exp=NOW - 5), CLOUD, HOST, NOW)
    assert late.finding.startswith("the token expired 5 s ago")
    early, _ = judge_token(token(nbf=NOW + 301), CLOUD, HOST, NOW)
    assert (early.status, early.fix) == (Status.FAIL, "synchronise this machine's clock (NTP)")
    assert early.finding == "the token is not valid yet (nbf is in the future): clock skew"
    skew_ok, _ = judge_token(token(nbf=NOW + 300), CLOUD, HOST, NOW)
    assert skew_ok.status == Status.PASS


def test_wrong_audiences() -> None:
    arm, _ = judge_token(token(aud="https://management.azure.com/"), CLOUD, HOST, NOW)
    assert arm.status == Status.FAIL
    assert arm.finding == "the token is for Azure Resource Manager (https://management.azure.com/), not Azure SQL"
    assert arm.fix == f"request the token for {CLOUD.sql_scope}"
    gov = BUILTIN["AzureUSGovernment"]
    wrong_cloud, _ = judge_token(token(), CLOUD, "srv." + gov.sql_dns_suffix, NOW)
    assert wrong_cloud.finding == f"the server is in {gov.name} but the token audience is https://database.windows.net/"
    assert wrong_cloud.fix == f"use --cloud {gov.name} (token scope {gov.sql_scope})"
    other, _ = judge_token(token(aud="https://example.org"), CLOUD, "127.0.0.1", NOW)
    assert other.finding == f"the token audience https://example.org is not the SQL resource {CLOUD.sql_resource}"
    ok, _ = judge_token(token(aud="HTTPS://DATABASE.WINDOWS.NET"), CLOUD, "127.0.0.1", NOW)
    assert ok.status == Status.PASS


def test_an_opaque_token_stops_the_check() -> None:
    with pytest.raises(Stop) as stop:
        judge_token("not-a-jwt", CLOUD, HOST, NOW)
    assert stop.value.outcome.status == Status.FAIL and stop.value.outcome.code == "malformed_token"


def test_cloud_of_host_and_mi_name() -> None:
    assert cloud_of_host(HOST.upper()) == CLOUD
    assert cloud_of_host("database.windows.net") is None  # a suffix needs its dot
    assert mi_name({"xms_mirid": "/a/b/name"}) == "name" and mi_name({}) == ""


def dns(addresses: list[str], cnames: list[str]) -> DnsFacts:
    return DnsFacts(HOST, addresses, cnames, 1.26, "system")


def test_dns_judgments() -> None:
    plain = judge_dns(dns(["20.1.2.3"], []))
    assert (plain.status, plain.finding) == (Status.PASS, f"{HOST} -> 20.1.2.3")
    assert plain.evidence == {"host": HOST, "addresses": ["20.1.2.3"], "cnames": [], "resolver": "system", "ms": 1.3}
    pl = ["srv.privatelink.database.windows.net", "cr1.x"]
    private = judge_dns(dns(["10.0.0.5"], pl))
    assert (private.status, private.finding) == (Status.PASS, f"{HOST} -> 10.0.0.5 via {pl[0]} -> cr1.x (private endpoint)")
    leaked = judge_dns(dns(["10.0.0.5", "20.1.2.3"], pl))
    assert leaked.status == Status.WARN and leaked.finding.endswith(": a private-link name resolves to a public address")
    assert "privatelink DNS zone" in leaked.fix
    via = judge_dns(dns(["20.1.2.3"], ["cr1.x"]))
    assert (via.status, via.finding) == (Status.PASS, f"{HOST} -> 20.1.2.3 via cr1.x")


CERT = CertificateFacts("CN=srv", ["srv"], "CA", 90, "TLSv1.3", "", True)


def test_tls_judgments_and_the_30_day_boundary() -> None:
    ok = judge_tls(CERT, HOST, False)
    assert (ok.status, ok.finding) == (Status.PASS, "TLSv1.3, certificate CN=srv from CA, 90 days left")
    assert ok.evidence["days_left"] == 90 and ok.evidence["verify_error"] == ""
    assert judge_tls(replace(CERT, days_left=30), HOST, False).status == Status.PASS
    soon = judge_tls(replace(CERT, days_left=29), HOST, False)
    assert (soon.status, soon.finding) == (Status.WARN, "TLSv1.3, certificate CN=srv from CA, 29 days left: expires soon")
    assert judge_tls(replace(CERT, days_left=0), HOST, False).status == Status.WARN
    expired = judge_tls(replace(CERT, days_left=-1, verify_error="expired"), HOST, True)
    assert (expired.status, expired.fix) == (Status.FAIL, "the server's certificate must be renewed")
    assert expired.finding.endswith(": the certificate has expired")


def test_tls_unverified_certificate() -> None:
    wrong_name = judge_tls(replace(CERT, hostname_matches=False), HOST, False)
    assert wrong_name.status == Status.FAIL and wrong_name.finding.endswith(f"; the certificate does not name {HOST}")
    assert "--ca-bundle" in wrong_name.fix
    untrusted = judge_tls(replace(CERT, verify_error="self-signed"), HOST, False)
    assert untrusted.finding.endswith("; self-signed")
    trusted = judge_tls(replace(CERT, verify_error="self-signed"), HOST, True)
    assert trusted.status == Status.WARN and trusted.fix == ""
    assert trusted.finding.endswith("; not verified (self-signed), accepted by --trust-server-certificate")


SERVER = ServerFacts(
    name="srv", fqdn=HOST, public_network_access="Enabled", minimal_tls_version="1.2", admin_login="admins", admin_sid="s",
    admin_type="Group", admin_tenant="T1", entra_only=True, identity_type="SystemAssigned",
    firewall_rules=[FirewallRuleFacts("office", "203.0.113.0", "203.0.113.255")], database_exists=True,
)  # fmt: skip
IDENT = TokenIdentity("t1", OID, APP, "app", "", "https://database.windows.net/", NOW)


def test_a_healthy_server_passes() -> None:
    ok = judge_server(SERVER, IDENT, "appdb", "rg", "203.0.113.7")
    assert ok.status == Status.PASS
    assert ok.finding == "srv: Entra admin admins (Group), public access Enabled, TLS >= 1.2, 1 firewall rule(s)"
    assert ok.evidence["firewall_rules"] == [{"name": "office", "start": "203.0.113.0", "end": "203.0.113.255"}]
    assert ok.evidence["allow_azure_services"] is False
    assert judge_server(SERVER, None, "appdb", "rg", "").status == Status.PASS


def test_the_allow_azure_services_rule() -> None:
    azure = FirewallRuleFacts("AllowAllWindowsAzureIps", "0.0.0.0", "0.0.0.0")
    facts = replace(SERVER, firewall_rules=[*SERVER.firewall_rules, azure])
    assert judge_server(facts, IDENT, "appdb", "rg", "203.0.113.7").evidence["allow_azure_services"] is True
    wide = replace(SERVER, firewall_rules=[FirewallRuleFacts("all", "0.0.0.0", "255.255.255.255")])
    assert judge_server(wide, IDENT, "appdb", "rg", "").evidence["allow_azure_services"] is False


def test_server_failures() -> None:
    no_admin = judge_server(replace(SERVER, admin_login=""), IDENT, "appdb", "rg", "")
    assert no_admin.status == Status.FAIL and no_admin.finding == "the server has no Entra admin: it accepts no token at all"
    assert no_admin.fix.startswith("az sql server ad-admin create --resource-group rg --server-name srv")
    other_tenant = judge_server(replace(SERVER, admin_tenant="T2"), IDENT, "appdb", "rg", "")
    assert other_tenant.finding == "the token is from tenant t1 but the server's Entra admin is in tenant T2"
    assert "--tenant-id T2" in other_tenant.fix
    assert judge_server(replace(SERVER, admin_tenant=""), IDENT, "appdb", "rg", "").status == Status.PASS
    missing = judge_server(replace(SERVER, database_exists=False), IDENT, "appdb", "rg", "")
    assert missing.finding == "database 'appdb' does not exist on srv"
    assert missing.fix == "az sql db list --resource-group rg --server srv -o table"
    assert judge_server(replace(SERVER, database_exists=None), IDENT, "appdb", "rg", "").status == Status.PASS


def test_server_warnings() -> None:
    facts = replace(SERVER, public_network_access="DISABLED", minimal_tls_version="1.1", identity_type="")
    warn = judge_server(facts, IDENT, "appdb", "rg", "198.51.100.1")
    assert warn.status == Status.WARN
    assert warn.finding.split("; ")[1:] == [
        "public access disabled: only private endpoints reach it".replace("public access", "public network access is"),
        "minimal TLS version is 1.1: set 1.2",
        "the server has no managed identity: CREATE USER ... FROM EXTERNAL PROVIDER fails with 33134 (use azsqlctl grant --sid-mode)",
        "no firewall rule covers the client address 198.51.100.1",
    ]
    assert judge_server(replace(SERVER, minimal_tls_version=""), IDENT, "appdb", "rg", "").status == Status.PASS
    assert judge_server(replace(SERVER, minimal_tls_version="1.3"), IDENT, "appdb", "rg", "").status == Status.PASS


def test_evidence_and_empty_fixes_are_exact() -> None:
    """What --output json shows: the evidence keys, and no fix where nothing is wrong."""
    tls = judge_tls(CERT, HOST, False)
    assert tls.evidence == {
        "tls_version": "TLSv1.3", "subject": "CN=srv", "names": ["srv"], "issuer": "CA", "days_left": 90, "verify_error": "",
    }  # fmt: skip
    assert judge_tls(replace(CERT, days_left=1), HOST, False).fix == ""
    server = judge_server(SERVER, IDENT, "appdb", "rg", "")
    assert server.fix == "" and judge_server(replace(SERVER, identity_type=""), IDENT, "appdb", "rg", "").fix == ""
    assert server.evidence == {
        "server": "srv", "fqdn": HOST, "public_network_access": "Enabled", "minimal_tls_version": "1.2",
        "entra_admin": "admins", "entra_admin_type": "Group", "entra_admin_tenant": "T1", "entra_only": True,
        "server_identity": "SystemAssigned",
        "firewall_rules": [{"name": "office", "start": "203.0.113.0", "end": "203.0.113.255"}],
        "database_exists": True, "allow_azure_services": False,
    }  # fmt: skip
    for cnames in ([], ["srv.privatelink.database.windows.net"]):
        assert judge_dns(dns(["10.0.0.5"], cnames)).fix == ""
    outcome, _ = judge_token(token(), CLOUD, HOST, NOW)
    assert outcome.evidence["idtyp"] == "app" and str(outcome.evidence["sid_hex"]).startswith("0x")
    with pytest.raises(Stop) as stop:
        judge_token("opaque", CLOUD, HOST, NOW)
    assert stop.value.outcome.finding == "the token is not a JWT: an opaque or encrypted token that Azure SQL cannot read"
    assert stop.value.outcome.fix == "request an access token for the SQL scope (a JWS: three base64url parts) and pass it unmodified"


@pytest.mark.parametrize(
    "aud", ["https://management.core.windows.net/", "https://vault.azure.net", "https://storage.azure.com", "https://api.loganalytics.io"]
)
def test_tokens_for_other_azure_resources(aud: str) -> None:
    outcome, _ = judge_token(token(aud=aud), CLOUD, HOST, NOW)
    assert outcome.status == Status.FAIL and outcome.finding.startswith("the token is for ") and outcome.finding.endswith("not Azure SQL")
