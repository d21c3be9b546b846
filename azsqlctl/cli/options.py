"""Shared Annotated options, so every command spells target, cloud, auth and output the same way.

Environment variable names in help come from the one settings table (``core.config.SETTINGS``).
"""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable, Mapping
from enum import StrEnum
from types import SimpleNamespace
from typing import TYPE_CHECKING, Annotated, ParamSpec, cast, get_type_hints

import typer

# typer vendors click (pinned in constraints.txt): its parameter types decide the help's type column.
from typer._click import core as click_core
from typer._click import types as click_types

from azsqlctl.core.config import env_help

if TYPE_CHECKING:
    from azsqlctl.core.settings import SettingsInput

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
# grant's --client-id names the identity it grants to: the operator's own user-assigned identity is this one.
OperatorClientId = Annotated[
    str | None,
    typer.Option(
        "--operator-client-id",
        metavar="GUID",
        help="Your own user-assigned identity, if you are one " + env_help("client_id"),
        rich_help_panel=AUTH,
        show_default=False,
    ),
]
Output = Annotated[
    OutputFormat | None,
    typer.Option("--output", "-o", metavar="FORMAT", help=_text("human or json", "output"), rich_help_panel=OUT, show_default=False),
]
Debug = Annotated[bool, typer.Option("--debug", help="Tracebacks, HTTP/driver logs (tokens redacted)", rich_help_panel=OUT)]


# --- the connection options, declared once ----------------------------------------------------------

# Every shared connection option, in the order help lists them: a command takes the ones it needs by name.
CONNECTION_OPTIONS: dict[str, tuple[object, str | bool | None]] = {
    "server": (Server, None),
    "database": (Database, None),
    "subscription": (Subscription, None),
    "resource_group": (ResourceGroup, None),
    "cloud": (Cloud, None),
    "auth": (Auth, None),
    "client_id": (ClientId, None),
    "operator_client_id": (OperatorClientId, None),  # the settings' client_id, spelled for grant
    "tenant_id": (TenantId, None),
    "driver": (Driver, None),
    "ca_bundle": (CaBundle, None),
    "trust_server_certificate": (TrustServerCertificate, False),
    "strict": (Strict, False),
    "timeout": (Timeout, None),
}
TARGET_OPTIONS = frozenset(
    {"server", "database", "subscription", "resource_group"}
)  # the Target panel; the rest: Connection, Authentication
SQL_AND_ARM_TARGET = tuple(n for n in CONNECTION_OPTIONS if n != "operator_client_id")  # doctor
SQL_TARGET = tuple(n for n in SQL_AND_ARM_TARGET if n not in ("subscription", "resource_group"))  # whoami
# grant names the ARM scope first, and the operator's identity apart from the one it grants to.
GRANT_TARGET = (
    "subscription", "resource_group", "server", "database", "cloud", "auth", "operator_client_id", "tenant_id", "driver",
    "ca_bundle", "trust_server_certificate", "strict", "timeout",
)  # fmt: skip
# `logs`, `logs enable` and `logs status` reach ARM and Log Analytics, never SQL.
ARM_TARGET = ("server", "subscription", "resource_group", "cloud", "auth", "client_id", "tenant_id", "ca_bundle", "timeout")

P = ParamSpec("P")


def with_target(names: tuple[str, ...], connection_before: str = "") -> Callable[[Callable[P, None]], Callable[P, None]]:
    """Give a command the shared connection options ``names`` in place of its ``target: SettingsInput`` parameter.

    Typer reads the signature: the options appear where ``target`` stands, in the order of ``names``, and
    the command receives them as one ``SettingsInput`` (its help and parsing are as if it had declared each one).
    ``connection_before`` names the command's own parameter before which the Connection and Authentication
    options go instead (help lists panels in the order their first option appears: `logs` shows its filters
    and time window before them).
    """
    unknown = [n for n in names if n not in CONNECTION_OPTIONS]
    if unknown:
        raise ValueError(f"not a shared connection option: {', '.join(unknown)}")
    ordered = list(names)
    later = [n for n in ordered if n not in TARGET_OPTIONS] if connection_before else []

    def shared(group: list[str]) -> list[inspect.Parameter]:
        return [
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=CONNECTION_OPTIONS[name][1], annotation=CONNECTION_OPTIONS[name][0]
            )
            for name in group
        ]

    def decorate(decorated: Callable[P, None]) -> Callable[P, None]:
        if not isinstance(decorated, types.FunctionType):
            raise TypeError("with_target decorates a command function")
        command: types.FunctionType = decorated  # called below with the options Typer parsed, by name
        own = inspect.signature(command)
        if "target" not in own.parameters or (connection_before and connection_before not in own.parameters):
            raise TypeError(f"{command.__name__} has no parameter 'target' (or '{connection_before}')")
        # ``target``'s annotation may name a type imported for checking only: every other one is evaluated.
        theirs = {k: v for k, v in command.__annotations__.items() if k not in ("target", "return")}
        hints = get_type_hints(SimpleNamespace(__annotations__=theirs), command.__globals__, include_extras=True)
        params: list[inspect.Parameter] = []
        for param in own.parameters.values():
            if param.name == "target":
                params += shared([n for n in ordered if n not in later])
                continue
            if param.name == connection_before:
                params += shared(later)
            params.append(param.replace(annotation=hints.get(param.name, param.annotation), kind=inspect.Parameter.KEYWORD_ONLY))

        @functools.wraps(command)
        def wrapper(**values: object) -> None:
            given = {name: values.pop(name) for name in ordered}
            command(target=settings_input(given), **values)

        wrapper.__signature__ = own.replace(parameters=params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params} | {"return": None}
        del wrapper.__wrapped__  # typer must read the signature above, not the command's
        return cast("Callable[P, None]", wrapper)

    return decorate


def settings_input(values: Mapping[str, object]) -> SettingsInput:
    """The shared options' values as the typed request every command's settings resolve from."""
    from azsqlctl.core.settings import SettingsInput  # not at import: --help never resolves settings

    def text(name: str) -> str | None:
        value = values.get(name)
        return value if isinstance(value, str) else None

    operator = "operator_client_id" in values

    return SettingsInput(
        server=text("server"), database=text("database"), subscription=text("subscription"),
        resource_group=text("resource_group"), cloud=text("cloud"), auth=text("auth"), client_id=text("operator_client_id" if operator else "client_id"),
        tenant_id=text("tenant_id"), driver=text("driver"), ca_bundle=text("ca_bundle"), timeout=text("timeout"),
        trust_server_certificate=values.get("trust_server_certificate") is True, strict=values.get("strict") is True,
        client_id_flag="--operator-client-id" if operator else "--client-id",
    )  # fmt: skip
