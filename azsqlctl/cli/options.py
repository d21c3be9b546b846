"""Shared Annotated options, so every command spells target, cloud, auth and output the same way.

Environment variable names in help come from the one settings table (``core.config.SETTINGS``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

# typer vendors click (pinned in constraints.txt): its parameter types decide the help's type column.
from typer._click import core as click_core
from typer._click import types as click_types

from azsqlctl.core.config import env_help

TARGET = "Target"
CONNECTION = "Connection"  # how to reach the target: rarely needed, kept apart so Target's few lines read first
AUTH = "Authentication"
OUT = "Output"


class OutputFormat(StrEnum):
    human = "human"
    json = "json"


class _Untyped(click_types.StringParamType):
    """An argument's value shown by its metavar alone (IDENTITY, COMMAND), not also as Typer's ``<str>``:
    one placeholder style in help, UPPERCASE words (NAME, GUID, FILE)."""

    def get_metavar(self, param: click_core.Parameter, ctx: click_core.Context | None = None) -> str:
        return ""


PLAIN = _Untyped()


def _text(help_: str, key: str) -> str:
    return f"{help_} {env_help(key)}"


Server = Annotated[
    str | None,
    typer.Option(
        "--server",
        "-S",
        metavar="SERVER",
        help=_text("myserver (or its full DNS name), host,port or tcp:host,port", "server"),
        rich_help_panel=TARGET,
        show_default=False,
    ),
]
Database = Annotated[
    str | None,
    typer.Option("--database", "-d", metavar="NAME", help=_text("Database name", "database"), rich_help_panel=TARGET, show_default=False),
]
Subscription = Annotated[
    str | None,
    typer.Option(
        "--subscription",
        metavar="GUID",
        help=_text("Subscription id, for ARM checks", "subscription"),
        rich_help_panel=TARGET,
        show_default=False,
    ),
]
ResourceGroup = Annotated[
    str | None,
    typer.Option(
        "--resource-group",
        "-g",
        metavar="NAME",
        help=_text("Resource group of the server", "resource_group"),
        rich_help_panel=TARGET,
        show_default=False,
    ),
]
Cloud = Annotated[
    str | None,
    typer.Option(
        "--cloud",
        metavar="NAME",
        help=_text("AzureCloud, AzureUSGovernment, AzureChinaCloud or a custom cloud", "cloud"),
        rich_help_panel=CONNECTION,
        show_default=False,
    ),
]
Driver = Annotated[
    str | None,
    typer.Option(
        "--driver",
        metavar="NAME|PATH",
        help=_text("ODBC driver name or library path", "driver"),
        rich_help_panel=CONNECTION,
        show_default=False,
    ),
]
CaBundle = Annotated[
    str | None,
    typer.Option(
        "--ca-bundle",
        metavar="PEM",
        help=_text("PEM file of a private CA to trust", "ca_bundle"),
        rich_help_panel=CONNECTION,
        show_default=False,
    ),
]
TrustServerCertificate = Annotated[
    bool,
    typer.Option("--trust-server-certificate", help="Skip certificate validation (local/dev targets only)", rich_help_panel=CONNECTION),
]
Strict = Annotated[bool, typer.Option("--strict", help="Encrypt=strict (TDS 8.0: TLS before any TDS byte)", rich_help_panel=CONNECTION)]
Timeout = Annotated[
    str | None,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        help=_text("Seconds for each network step, 1-3600 (default 15)", "timeout"),
        rich_help_panel=CONNECTION,
        show_default=False,
    ),
]
Auth = Annotated[
    str | None,
    typer.Option(
        "--auth",
        metavar="KIND",
        help=_text(
            "default, cli, managed-identity, workload-identity, github-actions, azure-pipelines, environment or device-code", "auth"
        ),
        rich_help_panel=AUTH,
        show_default=False,
    ),
]
ClientId = Annotated[
    str | None,
    typer.Option(
        "--client-id",
        metavar="GUID",
        help=_text("Client id (not object id) of a user-assigned managed identity: az identity show --query clientId", "client_id"),
        rich_help_panel=AUTH,
        show_default=False,
    ),
]
TenantId = Annotated[
    str | None,
    typer.Option(
        "--tenant-id", metavar="TENANT", help=_text("Tenant to authenticate in", "tenant_id"), rich_help_panel=AUTH, show_default=False
    ),
]
Output = Annotated[
    OutputFormat | None,
    typer.Option("--output", "-o", metavar="FORMAT", help=_text("human or json", "output"), rich_help_panel=OUT, show_default=False),
]
Debug = Annotated[bool, typer.Option("--debug", help="Tracebacks, HTTP/driver logs (tokens redacted)", rich_help_panel=OUT)]
