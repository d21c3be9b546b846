"""What `azsqlctl doctor` was asked, validated into what its checks run with (typed errors, no I/O but settings)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from ..config import env_name
from ..connstr import split_target
from ..errors import UsageError
from ..netaddr import is_ip
from ..settings import AUTH_KINDS, ConnectionSettings, SettingsInput, parse_guid, resolve_settings
from .checks import DoctorOptions


@dataclass(frozen=True)
class DoctorRequest:
    target: SettingsInput
    connection_string: str | None = None  # None: the environment's, if any
    client_ip: str | None = None
    admin_auth: str | None = None
    admin_client_id: str | None = None


@dataclass(frozen=True)
class DoctorRun:
    """A validated request: the checks' options and what the probes are built with."""

    options: DoctorOptions
    extra: str  # the connection string's other keywords, passed to the driver as they are
    admin_auth: str
    admin_client_id: str

    @property
    def settings(self) -> ConnectionSettings:
        return self.options.settings


def prepare(request: DoctorRequest, env: Mapping[str, str], cwd: Path) -> DoctorRun:
    """Validate the request and resolve its settings; doctor tests the application's database, never master by default."""
    conn = request.connection_string if request.connection_string is not None else env.get(env_name("connection_string"), "")
    client_ip, admin_auth = request.client_ip, request.admin_auth
    if client_ip is not None and not is_ip(client_ip):
        raise UsageError(f"--client-ip '{client_ip}' is not an IP address", "pass this client's public IPv4 or IPv6 address", code="bad_ip")
    if admin_auth is not None and admin_auth not in AUTH_KINDS:
        raise UsageError(f"unknown --admin-auth '{admin_auth}'", f"use one of: {', '.join(AUTH_KINDS)}", code="bad_auth")
    if request.admin_client_id is not None and admin_auth is None:
        raise UsageError("--admin-client-id without --admin-auth", "pass --admin-auth managed-identity too", code="conflict")
    admin_cid = parse_guid(request.admin_client_id, "--admin-client-id") if request.admin_client_id else ""
    # The connection string ranks below the environment and above the config file (the one precedence rule, core.config).
    cs_server, cs_database, extra = split_target(conn) if conn else ("", "", "")
    given = replace(request.target, server_from_connection_string=cs_server, database_from_connection_string=cs_database)
    settings = resolve_settings(given, env, cwd)
    settings.require_server()
    if "database" not in settings.sources:
        raise UsageError(
            "no database given: doctor tests the database your application uses, not master",
            f"pass --database appdb (or set {env_name('database')}); --database master tests master on purpose",
            code="no_database",
        )
    options = DoctorOptions(settings, client_ip=client_ip or "", inspect=bool(admin_auth))
    return DoctorRun(options, extra, admin_auth or "", admin_cid)
