"""Shared Annotated options, so every command spells target, cloud, auth and output the same way."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

TARGET = "Target"
AUTH = "Authentication"
OUT = "Output"


class OutputFormat(StrEnum):
    human = "human"
    json = "json"


Server = Annotated[
    str | None,
    typer.Option(
        "--server",
        "-S",
        help="myserver, myserver.database.windows.net, host,port or tcp:host,port [env AZSQLCTL_SERVER]",
        rich_help_panel=TARGET,
        show_default=False,
    ),
]
Database = Annotated[
    str | None,
    typer.Option(
        "--database", "-d", help="Database name [env AZSQLCTL_DATABASE; default master]", rich_help_panel=TARGET, show_default=False
    ),
]
Subscription = Annotated[
    str | None,
    typer.Option(
        "--subscription", help="Subscription id, for ARM checks [env AZSQLCTL_SUBSCRIPTION]", rich_help_panel=TARGET, show_default=False
    ),
]
ResourceGroup = Annotated[
    str | None,
    typer.Option(
        "--resource-group",
        "-g",
        help="Resource group of the server [env AZSQLCTL_RESOURCE_GROUP]",
        rich_help_panel=TARGET,
        show_default=False,
    ),
]
Cloud = Annotated[
    str | None,
    typer.Option(
        "--cloud",
        help="AzureCloud, AzureUSGovernment, AzureChinaCloud or a custom cloud's name [env AZSQLCTL_CLOUD]",
        rich_help_panel=TARGET,
        show_default=False,
    ),
]
Driver = Annotated[
    str | None,
    typer.Option(
        "--driver", help="ODBC driver name or library path [env AZSQLCTL_ODBC_DRIVER]", rich_help_panel=TARGET, show_default=False
    ),
]
CaBundle = Annotated[
    str | None,
    typer.Option(
        "--ca-bundle", help="PEM file of a private CA to trust [env AZSQLCTL_CA_BUNDLE]", rich_help_panel=TARGET, show_default=False
    ),
]
TrustServerCertificate = Annotated[
    bool, typer.Option("--trust-server-certificate", help="Skip certificate validation (local/dev targets only)", rich_help_panel=TARGET)
]
Strict = Annotated[bool, typer.Option("--strict", help="Encrypt=strict (TDS 8.0: TLS before any TDS byte)", rich_help_panel=TARGET)]
Timeout = Annotated[
    str | None,
    typer.Option(
        "--timeout", help="Seconds for each network step [env AZSQLCTL_TIMEOUT; default 15]", rich_help_panel=TARGET, show_default=False
    ),
]
Auth = Annotated[
    str | None,
    typer.Option(
        "--auth",
        help="default, cli, managed-identity, workload-identity, environment or device-code [env AZSQLCTL_AUTH]",
        rich_help_panel=AUTH,
        show_default=False,
    ),
]
ClientId = Annotated[
    str | None,
    typer.Option(
        "--client-id",
        help="Client id of a user-assigned managed identity [env AZSQLCTL_CLIENT_ID]",
        rich_help_panel=AUTH,
        show_default=False,
    ),
]
TenantId = Annotated[
    str | None,
    typer.Option("--tenant-id", help="Tenant to authenticate in [env AZSQLCTL_TENANT_ID]", rich_help_panel=AUTH, show_default=False),
]
Output = Annotated[
    OutputFormat | None, typer.Option("--output", "-o", help="human or json [env AZSQLCTL_OUTPUT]", rich_help_panel=OUT, show_default=False)
]
Debug = Annotated[bool, typer.Option("--debug", help="Tracebacks and HTTP/driver logging (tokens redacted)", rich_help_panel=OUT)]
