"""The composition root: connection settings -> the adapters a command's core runs over.

The one place credentials and clients are built (credentials, SQL connectors, ARM, Monitor, Resource Graph).
A CLI module asks here for its ports and hands them to core; core never sees how they were made. Every
import is inside its function: a command pays only for the SDKs its run uses (azure-identity alone is ~100 ms).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azsqlctl.core.logs.recent import AuditLookup
    from azsqlctl.core.ports import Connector
    from azsqlctl.core.settings import ConnectionSettings

    from .arm import ArmAdmins, ArmIdentityResolver
    from .arm_pipeline import Json
    from .credentials import CredentialTokens, GuardedCredential
    from .doctor_probes import RealProbes
    from .grant_ports import RealGrantPorts
    from .monitor import ArmMonitorConfig, MonitorLogsQuery
    from .resource_graph import ResourceGraph


def tokens(settings: ConnectionSettings, auth: str = "", client_id: str = "") -> CredentialTokens:
    """The command's credential (``auth``/``client_id`` name a second one, e.g. doctor's --admin-auth)."""
    from .credentials import CredentialTokens

    if auth:
        return CredentialTokens(auth, client_id, settings.cloud, settings.tenant_id, settings.timeout)
    return CredentialTokens(settings.auth, settings.client_id, settings.cloud, settings.tenant_id, settings.timeout)


def sdk_credential(settings: ConnectionSettings) -> GuardedCredential:
    """What SDK clients (ARM, Log Analytics, Resource Graph) are given: bounded by the timeout, failures named."""
    return tokens(settings).credential


def sql_connector(settings: ConnectionSettings) -> Connector:
    """The settings' server through the ODBC driver (found now: before any token request), failures diagnosed."""
    from .doctor_probes import DiagnosingConnector
    from .sql import DriverConnector

    return DiagnosingConnector(DriverConnector(settings), settings)


def sdk_imported() -> None:
    """Import azure-identity and azure-core's pipeline here, in the calling thread, before a command's threads do.

    doctor's checks and grant's databases run in threads, each importing the SDK on first use. azure-core's and
    azure-identity's modules import each other, so two threads importing them at once could each hold a module
    the other was waiting for: CPython then raises _DeadlockError (doctor exited 70 with "deadlock detected by
    _ModuleLock('azure.core.exceptions')"). Imported once up front, the threads find every module complete."""
    for module in (
        "azure.core.exceptions",
        "azure.core.pipeline.policies",
        "azure.core.pipeline.transport",
        "azure.core.rest",
        "azure.identity",
    ):
        __import__(module)  # the import statement's own path (importlib.import_module's is not seen by -X importtime)


def doctor_probes(settings: ConnectionSettings, *, extra: str, admin_auth: str, admin_client_id: str) -> RealProbes:
    from .doctor_probes import RealProbes

    sdk_imported()  # the checks run in threads (see sdk_imported)

    admin = tokens(settings, admin_auth, admin_client_id) if admin_auth else None
    return RealProbes(settings, tokens(settings), extra=extra, admin_tokens=admin, audit=lambda: audit_lookup(settings))


def logs_query(settings: ConnectionSettings) -> MonitorLogsQuery:
    from .monitor import MonitorLogsQuery

    return MonitorLogsQuery(sdk_credential(settings), settings.cloud, settings.timeout)


def monitor_config(settings: ConnectionSettings, subscription: str = "") -> ArmMonitorConfig:
    """Auditing policies and diagnostic settings over ARM, in the settings' subscription (or ``subscription``: a fleet's)."""
    from .monitor import ArmMonitorConfig

    return ArmMonitorConfig(sdk_credential(settings), settings.cloud, subscription or settings.subscription, settings.timeout)


def audit_lookup(settings: ConnectionSettings) -> AuditLookup | None:
    """Audited failures through the same ports as `logs` (None when the cloud has no logs endpoint or no ARM scope)."""
    if not (settings.cloud.logs_endpoint and settings.subscription and settings.resource_group and settings.server):
        return None
    from azsqlctl.core.logs.recent import AuditLookup

    return AuditLookup(
        monitor_config(settings), logs_query(settings), settings.resource_group, settings.server.logical_name, settings.server.host
    )


def grant_ports(settings: ConnectionSettings) -> RealGrantPorts:
    """Operator sessions per server and database (grant, grant export)."""
    from .grant_ports import RealGrantPorts

    sdk_imported()  # databases are planned and applied in threads (see sdk_imported)
    return RealGrantPorts(settings, tokens(settings))


def entra_admins(settings: ConnectionSettings) -> ArmAdmins:
    """The server's Entra admin over ARM (azure-mgmt-sql); a server named by FQDN is found as doctor finds it."""
    from azsqlctl.core.errors import UsageError

    from .arm import ArmAdmins, sql_management_client
    from .arm_reader import ArmRest, read_server

    if not (settings.subscription and settings.resource_group):
        raise UsageError(
            "--ensure-entra-admin needs the server's ARM scope", "pass --subscription and --resource-group", code="no_arm_scope"
        )
    server = settings.require_server()
    credentials = tokens(settings)
    if server.logical_name:
        name = server.logical_name
    else:
        arm = ArmRest(credentials, settings.cloud, settings.subscription, settings.timeout)
        name = read_server(arm, settings.resource_group, "", server.host, "").name
    client = sql_management_client(credentials.credential, settings.cloud, settings.subscription, settings.timeout)
    return ArmAdmins(client, settings.resource_group, name, settings.tenant_id)


def identity_resolver(settings: ConnectionSettings) -> ArmIdentityResolver:
    """--identity-resource: an identity's ids read from its ARM resource."""
    from .arm import ArmIdentityResolver

    return ArmIdentityResolver(sdk_credential(settings), settings.cloud, settings.timeout)


def identity_resource(settings: ConnectionSettings, arm_id: str) -> Json:
    """--identity-resource ARM_ID's body; a malformed id is refused before any credential is built."""
    from .arm import resource_type

    resource_type(arm_id)
    return identity_resolver(settings).get(arm_id)


def resource_graph(settings: ConnectionSettings) -> ResourceGraph:
    """A policy's ``select`` targets, found across subscriptions."""
    from .resource_graph import ResourceGraph

    return ResourceGraph(sdk_credential(settings), settings.cloud)
