"""azure-mgmt-sql reads and writes the sandbox's ARM endpoint over HTTPS."""

from __future__ import annotations

import pytest

from azsqlctl.azure.arm import sql_management_client
from azsqlctl.azure.credentials import get_credential
from azsqlctl.core.clouds import resolve_cloud
from azsqlctl.sandbox.serve import Sandbox


def client(env: dict[str, str]):
    cloud = resolve_cloud(
        env["AZSQLCTL_CLOUD"],
        {"arm_endpoint": env["AZSQLCTL_ARM_ENDPOINT"], "arm_resource": env["AZSQLCTL_ARM_RESOURCE"],
         "sql_resource": env["AZSQLCTL_SQL_RESOURCE"], "sql_dns_suffix": env["AZSQLCTL_SQL_DNS_SUFFIX"]},
        env["AZSQLCTL_CA_BUNDLE"],
    )  # fmt: skip
    return sql_management_client(get_credential("managed-identity", "", cloud), cloud, env["AZSQLCTL_SUBSCRIPTION"])


def test_reads_server_firewall_admin_and_databases(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    arm = client(client_env)
    rg = client_env["AZSQLCTL_RESOURCE_GROUP"]
    server = arm.servers.get(rg, "sandbox-sql")
    operator = next(i.as_json() for i in sandbox.identities() if i.name == "sandbox-operator")
    assert server.id.endswith("/resourceGroups/sandbox-rg/providers/Microsoft.Sql/servers/sandbox-sql")
    assert server.public_network_access == "Enabled"
    assert server.minimal_tls_version == "1.2"
    assert server.administrators.login == "sandbox-operator"
    assert server.administrators.sid == operator["client_id"]
    assert server.administrators.azure_ad_only_authentication is True
    assert [s.name for s in arm.servers.list_by_resource_group(rg)] == ["sandbox-sql"]

    rules = list(arm.firewall_rules.list_by_server(rg, "sandbox-sql"))
    assert [(r.name, r.start_ip_address, r.end_ip_address) for r in rules] == [("AllowLocalhost", "127.0.0.1", "127.0.0.1")]
    admin = arm.server_azure_ad_administrators.get(rg, "sandbox-sql", "ActiveDirectory")
    assert (admin.administrator_type, admin.login, admin.tenant_id) == (
        "ActiveDirectory",
        "sandbox-operator",
        sandbox.store.read(lambda s: s.tenant_id),
    )
    only = arm.server_azure_ad_only_authentications.get(rg, "sandbox-sql", "Default")
    assert only.name == "Default" and only.azure_ad_only_authentication is True
    assert sorted(d.name for d in arm.databases.list_by_server(rg, "sandbox-sql")) == ["appdb", "master"]
    assert arm.databases.get(rg, "sandbox-sql", "appdb").status == "Online"


def test_firewall_rule_write_persists_to_the_state_file(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    from azure.mgmt.sql.models import FirewallRule

    from azsqlctl.sandbox import state as st

    arm = client(client_env)
    rg = client_env["AZSQLCTL_RESOURCE_GROUP"]
    created = arm.firewall_rules.create_or_update(
        rg,
        "sandbox-sql",
        "office",
        FirewallRule(start_ip_address="203.0.113.0", end_ip_address="203.0.113.255"),  # type: ignore[call-overload]
    )
    assert created.name == "office"
    assert sandbox.state_path is not None
    saved = st.load(sandbox.state_path)
    assert [r.name for r in saved.server.firewall_rules] == ["AllowLocalhost", "office"]
    arm.firewall_rules.delete(rg, "sandbox-sql", "office")
    assert [r.name for r in st.load(sandbox.state_path).server.firewall_rules] == ["AllowLocalhost"]


def test_not_found_and_wrong_audience(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    from azure.core.exceptions import ClientAuthenticationError, ResourceNotFoundError

    arm = client(client_env)
    with pytest.raises(ResourceNotFoundError, match="ResourceNotFound"):
        arm.servers.get(client_env["AZSQLCTL_RESOURCE_GROUP"], "other-server")
    with pytest.raises(ResourceNotFoundError, match="ResourceGroupNotFound"):
        arm.servers.get("other-rg", "sandbox-sql")

    # A SQL token is not an ARM token: the endpoint checks the audience.
    from azure.core.credentials import AccessToken
    from azure.mgmt.sql import SqlManagementClient

    class SqlTokenCredential:
        def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
            return AccessToken(sandbox.issue_token("sandbox-operator"), 2**31)

    wrong = SqlManagementClient(SqlTokenCredential(), client_env["AZSQLCTL_SUBSCRIPTION"], base_url=client_env["AZSQLCTL_ARM_ENDPOINT"],
                                credential_scopes=["https://management.azure.com/.default"], connection_verify=client_env["AZSQLCTL_CA_BUNDLE"])  # fmt: skip
    with pytest.raises(ClientAuthenticationError, match="InvalidAuthenticationToken"):
        wrong.servers.get(client_env["AZSQLCTL_RESOURCE_GROUP"], "sandbox-sql")
