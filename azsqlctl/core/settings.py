"""The connection settings every command shares, resolved once from flags, env and file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .clouds import Cloud, resolve_cloud
from .config import FileConfig, Setting, cloud_settings, load_file_config, resolve
from .errors import UsageError
from .target import ServerAddress, parse_server

AUTH_KINDS = ("default", "cli", "managed-identity", "workload-identity", "environment", "device-code")


@dataclass(frozen=True)
class ConnectionSettings:
    cloud: Cloud
    server: ServerAddress | None
    database: str
    subscription: str
    resource_group: str
    auth: str
    client_id: str
    tenant_id: str
    driver: str
    trust_server_certificate: bool
    strict: bool
    timeout: int
    sources: dict[str, str] = field(default_factory=dict)  # setting -> where it came from

    def require_server(self) -> ServerAddress:
        if self.server is None:
            raise UsageError("no server given", "pass --server myserver (or set AZSQLCTL_SERVER)", code="no_server")
        return self.server


def resolve_settings(flags: Mapping[str, Any], env: Mapping[str, str], cwd: Path, file: FileConfig | None = None) -> ConnectionSettings:
    file = file if file is not None else load_file_config(cwd)
    got: dict[str, Setting] = {key: resolve(key, flags.get(key), env, file) for key in (
        "server", "database", "subscription", "resource_group", "cloud", "auth", "client_id", "tenant_id",
        "driver", "ca_bundle", "timeout",
    )}  # fmt: skip
    cloud_name = got["cloud"].value or "AzureCloud"
    cloud = resolve_cloud(cloud_name, cloud_settings(cloud_name, env, file), got["ca_bundle"].value)
    auth = got["auth"].value or "default"
    if auth not in AUTH_KINDS:
        raise UsageError(f"unknown auth '{auth}'", f"use one of: {', '.join(AUTH_KINDS)}", code="bad_auth")
    timeout_text = got["timeout"].value or "15"
    try:
        timeout = int(float(timeout_text))
    except ValueError:
        raise UsageError(f"timeout '{timeout_text}' is not a number", "pass --timeout SECONDS (at least 1)", code="bad_timeout") from None
    if timeout < 1:
        raise UsageError(
            f"timeout must be at least 1 second, got {timeout_text}", "pass --timeout 15 or more for remote servers", code="bad_timeout"
        )
    server = parse_server(got["server"].value, cloud.sql_dns_suffix) if got["server"].value else None
    return ConnectionSettings(
        cloud=cloud,
        server=server,
        database=got["database"].value or "master",
        subscription=got["subscription"].value,
        resource_group=got["resource_group"].value,
        auth=auth,
        client_id=got["client_id"].value,
        tenant_id=got["tenant_id"].value,
        driver=got["driver"].value,
        trust_server_certificate=bool(flags.get("trust_server_certificate")),
        strict=bool(flags.get("strict")),
        timeout=timeout,
        sources={k: v.source for k, v in got.items() if v.source != "default"},
    )
