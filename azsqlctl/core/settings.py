"""The connection settings every command shares, resolved once from flags, env and file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from .clouds import Cloud, resolve_cloud
from .config import FileConfig, Setting, cloud_settings_with_sources, env_name, load_file_config, resolve
from .errors import NotFound, UsageError
from .identity import canonical_guid
from .target import ServerAddress, parse_server


class AuthKind(StrEnum):
    DEFAULT = "default"
    CLI = "cli"
    MANAGED_IDENTITY = "managed-identity"
    WORKLOAD_IDENTITY = "workload-identity"
    GITHUB_ACTIONS = "github-actions"  # ClientAssertionCredential fed by the runner's OIDC endpoint
    AZURE_PIPELINES = "azure-pipelines"  # AzurePipelinesCredential: the job's OIDC endpoint and a service connection
    ENVIRONMENT = "environment"
    DEVICE_CODE = "device-code"


AUTH_KINDS: tuple[str, ...] = tuple(a.value for a in AuthKind)


@dataclass(frozen=True)
class SettingsInput:
    """What the command line said, by setting name (None = not given); built explicitly by each command."""

    server: str | None = None
    database: str | None = None
    subscription: str | None = None
    resource_group: str | None = None
    cloud: str | None = None
    auth: str | None = None
    client_id: str | None = None
    tenant_id: str | None = None
    driver: str | None = None
    ca_bundle: str | None = None
    timeout: str | None = None
    trust_server_certificate: bool = False
    strict: bool = False
    # Values that rank below the environment but above the config file (doctor's --connection-string).
    server_from_connection_string: str = ""
    database_from_connection_string: str = ""
    client_id_flag: str = "--client-id"  # grant calls the operator's own id --operator-client-id


_RESOLVED = (
    "server",
    "database",
    "subscription",
    "resource_group",
    "cloud",
    "auth",
    "client_id",
    "tenant_id",
    "driver",
    "ca_bundle",
    "timeout",
)


@dataclass(frozen=True)
class ConnectionSettings:
    cloud: Cloud
    server: ServerAddress | None
    database: str
    subscription: str
    resource_group: str
    auth: AuthKind
    client_id: str
    tenant_id: str
    driver: str
    trust_server_certificate: bool
    strict: bool
    timeout: int
    sources: dict[str, str] = field(default_factory=dict)  # setting -> where it came from

    def require_server(self) -> ServerAddress:
        if self.server is None:
            raise UsageError("no server given", f"pass --server myserver (or set {env_name('server')})", code="no_server")
        return self.server

    @property
    def warnings(self) -> tuple[str, ...]:
        """What the user should hear before anything connects with these settings."""
        return (TRUST_WARNING,) if self.trust_server_certificate else ()

    @property
    def from_environment(self) -> bool:
        """The target came from the environment (e.g. a sandbox's): fix commands must not pin its port."""
        return self.sources.get("server", "") == env_name("server")


TRUST_WARNING = "--trust-server-certificate disables certificate validation: use it for local/dev targets only"
CLIENT_ID_HINT = "client ids look like 27c1c882-4791-57cf-8622-933abbac9865: az identity show -g RG -n NAME --query clientId"
SUBSCRIPTION_HINT = "subscription ids look like 27c1c882-4791-57cf-8622-933abbac9865: az account show --query id"
MAX_DATABASE_NAME = 128  # sysname: Azure SQL database names are at most 128 characters


def parse_guid(text: str, source: str, hint: str = CLIENT_ID_HINT) -> str:
    """A GUID in its canonical lower-case form, or a usage error naming where the value came from."""
    guid = canonical_guid(text)
    if guid is None:
        raise UsageError(f"{source} '{text}' is not a GUID", hint, code="bad_guid")
    return guid


def _check_database(name: str, source: str) -> None:
    if len(name) > MAX_DATABASE_NAME:
        raise UsageError(
            f"{source} is {len(name)} characters long; database names are at most {MAX_DATABASE_NAME}",
            "pass the database's name as the portal or `az sql db list --query [].name` shows it",
            code="bad_database",
        )


def _check_ca_bundle(path: str, source: str, cwd: Path) -> None:
    where = Path(path) if Path(path).is_absolute() else cwd / path
    if not where.is_file():
        what = "is not a file" if where.exists() else "does not exist"
        raise NotFound(
            f"CA bundle {path!r} ({source}) {what}",
            "pass --ca-bundle with the PEM file of the CA that signs the server's certificates",
            code="ca_bundle_not_found",
        )


def resolve_settings(inp: SettingsInput, env: Mapping[str, str], cwd: Path, file: FileConfig | None = None) -> ConnectionSettings:
    file = file if file is not None else load_file_config(cwd)
    between = {
        "server": (Setting(inp.server_from_connection_string, "connection string"),),
        "database": (Setting(inp.database_from_connection_string, "connection string"),),
    }
    got: dict[str, Setting] = {
        key: resolve(
            key,
            getattr(inp, key),
            env,
            file,
            flag_name=inp.client_id_flag if key == "client_id" else "",
            between=between.get(key, ()),
        )
        for key in _RESOLVED
    }
    cloud_name = got["cloud"].value or "AzureCloud"
    fields, sources = cloud_settings_with_sources(cloud_name, env, file)
    cloud = resolve_cloud(cloud_name, fields, got["ca_bundle"].value, sources)
    auth_text = got["auth"].value or AuthKind.DEFAULT.value
    if auth_text not in AUTH_KINDS:
        raise UsageError(f"unknown auth '{auth_text}'", f"use one of: {', '.join(AUTH_KINDS)}", code="bad_auth")
    timeout_text = got["timeout"].value or "15"
    try:
        timeout = int(float(timeout_text))
    except (ValueError, OverflowError):
        raise UsageError(f"timeout '{timeout_text}' is not a number", "pass --timeout SECONDS (at least 1)", code="bad_timeout") from None
    if not 1 <= timeout <= 3600:
        raise UsageError(
            f"timeout must be between 1 and 3600 seconds, got {timeout_text}",
            "pass --timeout 15 or more for remote servers",
            code="bad_timeout",
        )
    client_id = got["client_id"].value
    if client_id:
        client_id = parse_guid(client_id, got["client_id"].source)
    subscription = got["subscription"].value
    if subscription:
        subscription = parse_guid(subscription, got["subscription"].source, SUBSCRIPTION_HINT)
    if got["database"].value:
        _check_database(got["database"].value, got["database"].source)
    if got["ca_bundle"].value:
        _check_ca_bundle(got["ca_bundle"].value, got["ca_bundle"].source, cwd)
    server = parse_server(got["server"].value, cloud.sql_dns_suffix) if got["server"].value else None
    return ConnectionSettings(
        cloud=cloud,
        server=server,
        database=got["database"].value or "master",
        subscription=subscription,
        resource_group=got["resource_group"].value,
        auth=AuthKind(auth_text),
        client_id=client_id,
        tenant_id=got["tenant_id"].value,
        driver=got["driver"].value,
        trust_server_certificate=inp.trust_server_certificate,
        strict=inp.strict,
        timeout=timeout,
        sources={k: v.source for k, v in got.items() if v.source != "default"},
    )
