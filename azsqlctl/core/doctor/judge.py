"""Doctor's judgments over facts: token claims, DNS/TLS results, ARM server settings.

Pure functions from facts to (status, finding, evidence, fix); no I/O.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from ..clouds import BUILTIN, Cloud
from ..identity import TokenIdentity, identity_from_claims
from ..jwt import MalformedToken, claims, number_claim
from ..netaddr import covers, is_public
from ..ports import CertificateFacts, DnsFacts, ServerFacts
from .schedule import Outcome, Status, Stop

Judgment = Outcome  # judgments are Outcomes: one frozen dataclass, fields in CheckResult's order
EXPIRY_WARNING = 300  # seconds: azure-identity refreshes 5 minutes before expiry

# Well-known resources a token is sometimes requested for by mistake.
OTHER_RESOURCES = {
    "https://management.azure.com": "Azure Resource Manager",
    "https://management.core.windows.net": "Azure Resource Manager",
    "https://graph.microsoft.com": "Microsoft Graph",
    "https://vault.azure.net": "Key Vault",
    "https://storage.azure.com": "Azure Storage",
    "https://api.loganalytics.io": "Log Analytics",
}
SQL_AUDIENCES = {c.sql_resource.rstrip("/"): c.name for c in BUILTIN.values()}


def _norm(aud: str) -> str:
    return aud.rstrip("/").lower()


def cloud_of_host(host: str) -> Cloud | None:
    return next((c for c in BUILTIN.values() if host.lower().endswith("." + c.sql_dns_suffix)), None)


def mi_name(claims_: Mapping[str, object]) -> str:
    """A managed identity's name, from the xms_mirid resource id claim."""
    mirid = str(claims_.get("xms_mirid", ""))
    return mirid.rstrip("/").rsplit("/", 1)[-1] if mirid else ""


def judge_token(token: str, cloud: Cloud, host: str, now: float | None = None) -> tuple[Judgment, TokenIdentity | None]:
    try:
        c = claims(token)
    except MalformedToken:
        fix = "request an access token for the SQL scope (a JWS: three base64url parts) and pass it unmodified"
        raise Stop(
            Outcome(
                Status.FAIL,
                "the token is not a JWT: an opaque or encrypted token that Azure SQL cannot read",
                fix=fix,
                code="malformed_token",
            )
        ) from None
    ident = identity_from_claims(c)
    now = time.time() if now is None else now
    evidence: dict[str, object] = {
        "aud": ident.audience, "tid": ident.tenant_id, "oid": ident.object_id, "appid": ident.client_id,
        "idtyp": c.get("idtyp", ""), "name": ident.name or mi_name(c), "exp": ident.expires_on,
        "seconds_left": ident.seconds_left(now), "sid": ident.sid, "sid_hex": ident.sid_hex,
        "matched_by": "client id (appid)" if ident.kind == "app" else "object id (oid)",
    }  # fmt: skip
    if ident.groups:
        evidence["groups"] = list(ident.groups)
    aud = _norm(ident.audience)
    expected = _norm(cloud.sql_resource)
    host_cloud = cloud_of_host(host)
    if aud in OTHER_RESOURCES:
        fix = f"request the token for {cloud.sql_scope}"
        return Outcome(Status.FAIL, f"the token is for {OTHER_RESOURCES[aud]} ({ident.audience}), not Azure SQL", evidence, fix), ident
    if host_cloud is not None and aud != _norm(host_cloud.sql_resource):
        fix = f"use --cloud {host_cloud.name} (token scope {host_cloud.sql_scope})"
        return Outcome(Status.FAIL, f"the server is in {host_cloud.name} but the token audience is {ident.audience}", evidence, fix), ident
    if aud != expected:
        return Outcome(
            Status.FAIL,
            f"the token audience {ident.audience} is not the SQL resource {cloud.sql_resource}",
            evidence,
            f"request the token for {cloud.sql_scope}",
        ), ident
    left = ident.seconds_left(now)
    if left <= 0:
        fix = "check the clock of this machine against the identity endpoint's (NTP), then request a new token"
        return Outcome(
            Status.FAIL,
            f"the token expired {-left} s ago (exp {ident.expires_on}): clock skew or a stale cached token",
            evidence,
            fix,
        ), ident
    if number_claim(c, "nbf") > now + 300:
        return Outcome(
            Status.FAIL,
            "the token is not valid yet (nbf is in the future): clock skew",
            evidence,
            "synchronise this machine's clock (NTP)",
        ), ident
    who = evidence["name"] or ident.client_id
    finding = f"{ident.kind} {who}, tenant {ident.tenant_id}; Azure SQL will look for a user with SID {ident.sid_hex}"
    if left < EXPIRY_WARNING:
        return Outcome(
            Status.WARN,
            f"{finding}; expires in {left} s",
            evidence,
            "refresh tokens before expiry (azure-identity does 5 minutes ahead)",
        ), ident
    return Outcome(Status.PASS, finding, evidence, ""), ident


def judge_dns(facts: DnsFacts) -> Judgment:
    evidence = {
        "host": facts.host,
        "addresses": facts.addresses,
        "cnames": facts.cnames,
        "resolver": facts.resolver,
        "ms": round(facts.elapsed_ms, 1),
    }
    finding = f"{facts.host} -> {', '.join(facts.addresses)}" + (f" via {' -> '.join(facts.cnames)}" if facts.cnames else "")
    private_link = any(".privatelink." in c for c in facts.cnames)
    public = [a for a in facts.addresses if is_public(a)]
    if private_link and public:
        fix = "link the privatelink DNS zone to this network, or resolve from inside the VNet"
        return Outcome(Status.WARN, finding + ": a private-link name resolves to a public address", evidence, fix)
    if private_link:
        return Outcome(Status.PASS, finding + " (private endpoint)", evidence, "")
    return Outcome(Status.PASS, finding, evidence, "")


def judge_tls(cert: CertificateFacts, host: str, trust_server_certificate: bool) -> Judgment:
    evidence = {
        "tls_version": cert.tls_version,
        "subject": cert.subject,
        "names": cert.names,
        "issuer": cert.issuer,
        "days_left": cert.days_left,
        "verify_error": cert.verify_error,
    }
    finding = f"{cert.tls_version}, certificate {cert.subject} from {cert.issuer}, {cert.days_left} days left"
    if cert.days_left < 0:
        return Outcome(Status.FAIL, f"{finding}: the certificate has expired", evidence, "the server's certificate must be renewed")
    if cert.verify_error or not cert.hostname_matches:
        reason = cert.verify_error or f"the certificate does not name {host}"
        if trust_server_certificate:
            return Outcome(Status.WARN, f"{finding}; not verified ({reason}), accepted by --trust-server-certificate", evidence, "")
        fix = "trust the issuing CA with --ca-bundle PATH (for a private CA), or connect with the name the certificate carries"
        return Outcome(Status.FAIL, f"{finding}; {reason}", evidence, fix)
    if cert.days_left < 30:
        return Outcome(Status.WARN, f"{finding}: expires soon", evidence, "")
    return Outcome(Status.PASS, finding, evidence, "")


def judge_server(facts: ServerFacts, identity: TokenIdentity | None, database: str, resource_group: str, client_ip: str) -> Judgment:
    evidence: dict[str, object] = {
        "server": facts.name, "fqdn": facts.fqdn, "public_network_access": facts.public_network_access,
        "minimal_tls_version": facts.minimal_tls_version, "entra_admin": facts.admin_login, "entra_admin_type": facts.admin_type,
        "entra_admin_tenant": facts.admin_tenant, "entra_only": facts.entra_only, "server_identity": facts.identity_type,
        "firewall_rules": [{"name": r.name, "start": r.start_ip, "end": r.end_ip} for r in facts.firewall_rules],
        "database_exists": facts.database_exists,
    }  # fmt: skip
    rg = resource_group
    if not facts.admin_login:
        fix = f"az sql server ad-admin create --resource-group {rg} --server-name {facts.name} --display-name <group> --object-id <group-object-id>"
        return Outcome(Status.FAIL, "the server has no Entra admin: it accepts no token at all", evidence, fix)
    if identity is not None and facts.admin_tenant and identity.tenant_id.lower() != facts.admin_tenant.lower():
        fix = f"get the token from tenant {facts.admin_tenant} (--tenant-id {facts.admin_tenant}), or use an identity of that tenant"
        return Outcome(
            Status.FAIL,
            f"the token is from tenant {identity.tenant_id} but the server's Entra admin is in tenant {facts.admin_tenant}",
            evidence,
            fix,
        )
    if facts.database_exists is False:
        return Outcome(
            Status.FAIL,
            f"database '{database}' does not exist on {facts.name}",
            evidence,
            f"az sql db list --resource-group {rg} --server {facts.name} -o table",
        )
    warnings = []
    if facts.public_network_access.lower() == "disabled":
        warnings.append("public network access is disabled: only private endpoints reach it")
    if facts.minimal_tls_version and facts.minimal_tls_version < "1.2":
        warnings.append(f"minimal TLS version is {facts.minimal_tls_version}: set 1.2")
    if not facts.identity_type:
        warnings.append(
            "the server has no managed identity: CREATE USER ... FROM EXTERNAL PROVIDER fails with 33134 (use azsqlctl grant --sid-mode)"
        )
    if client_ip and not any(covers(r.start_ip, r.end_ip, client_ip) for r in facts.firewall_rules):
        warnings.append(f"no firewall rule covers the client address {client_ip}")
    azure_services = any(r.start_ip == r.end_ip == "0.0.0.0" for r in facts.firewall_rules)  # noqa: S104 - ARM's marker
    evidence["allow_azure_services"] = azure_services
    finding = f"{facts.name}: Entra admin {facts.admin_login} ({facts.admin_type}), public access {facts.public_network_access}, TLS >= {facts.minimal_tls_version}, {len(facts.firewall_rules)} firewall rule(s)"
    if warnings:
        return Outcome(Status.WARN, finding + "; " + "; ".join(warnings), evidence, "")
    return Outcome(Status.PASS, finding, evidence, "")
