"""The one settings table, and the one precedence rule: flag > environment > config file > default.

The file is ``azsqlctl.toml`` in the working directory, or ``[tool.azsqlctl]`` in
``pyproject.toml``. Each resolved value remembers where it came from, so a
diagnosis can say "server from AZSQLCTL_SERVER". Help texts and the docs'
configuration table are derived from (or checked against) ``SETTINGS``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError, UsageError

# What a TOML document may hold once parsed; values are checked where they are used.
TomlValue = str | int | float | bool | list["TomlValue"] | dict[str, "TomlValue"]


@dataclass(frozen=True)
class Spec:
    """One setting: its flag (or "" when it has none), environment variable and whether the file may set it.

    What each means is the comment on its line (users read it in --help and the docs, not here)."""

    key: str
    flag: str
    env: str
    in_file: bool


SETTINGS: tuple[Spec, ...] = (
    Spec("server", "--server", "AZSQLCTL_SERVER", True),  # myserver, myserver.database.windows.net, host,port or tcp:host,port
    Spec("database", "--database", "AZSQLCTL_DATABASE", True),  # the database (doctor and grant need one; whoami defaults to master)
    Spec("subscription", "--subscription", "AZSQLCTL_SUBSCRIPTION", True),  # the server's subscription id (ARM checks)
    Spec("resource_group", "--resource-group", "AZSQLCTL_RESOURCE_GROUP", True),  # the server's resource group (ARM checks)
    Spec("cloud", "--cloud", "AZSQLCTL_CLOUD", True),  # AzureCloud (default), AzureUSGovernment, AzureChinaCloud or a custom cloud
    Spec("auth", "--auth", "AZSQLCTL_AUTH", True),  # default, cli, managed-identity, workload-identity, github-actions, azure-pipelines, environment or device-code
    Spec("client_id", "--client-id", "AZSQLCTL_CLIENT_ID", True),  # client id of the user-assigned managed identity to authenticate as
    Spec("tenant_id", "--tenant-id", "AZSQLCTL_TENANT_ID", True),  # tenant to authenticate in (cli, workload-identity)
    Spec("driver", "--driver", "AZSQLCTL_ODBC_DRIVER", True),  # ODBC driver name or library path
    Spec("ca_bundle", "--ca-bundle", "AZSQLCTL_CA_BUNDLE", True),  # PEM file of a private CA to trust (TLS to SQL, HTTPS to ARM)
    Spec("timeout", "--timeout", "AZSQLCTL_TIMEOUT", True),  # seconds per network step, at least 1 (default 15)
    Spec("output", "--output", "AZSQLCTL_OUTPUT", True),  # human (default) or json
    Spec("connection_string", "--connection-string", "AZSQLCTL_CONNECTION_STRING", False),  # doctor: the application's ODBC connection string
    # Custom-cloud endpoints: environment, or the [clouds.<name>] table of the file.
    Spec("arm_endpoint", "", "AZSQLCTL_ARM_ENDPOINT", False),  # custom cloud: ARM endpoint
    Spec("arm_resource", "", "AZSQLCTL_ARM_RESOURCE", False),  # custom cloud: ARM token resource
    Spec("logs_endpoint", "", "AZSQLCTL_LOGS_ENDPOINT", False),  # custom cloud: Log Analytics endpoint
    Spec("logs_resource", "", "AZSQLCTL_LOGS_RESOURCE", False),  # custom cloud: Log Analytics token resource (default: the endpoint)
    Spec("sql_dns_suffix", "", "AZSQLCTL_SQL_DNS_SUFFIX", False),  # custom cloud: DNS suffix of SQL servers
    Spec("sql_resource", "", "AZSQLCTL_SQL_RESOURCE", False),  # custom cloud: SQL token resource
    Spec("authority_host", "", "AZSQLCTL_AUTHORITY_HOST", False),  # custom cloud: Entra authority
    Spec("dns_server", "", "AZSQLCTL_DNS_SERVER", False),  # custom cloud: ip[:port] of the DNS server doctor resolves through
)  # fmt: skip
BY_KEY: dict[str, Spec] = {s.key: s for s in SETTINGS}
# A custom cloud's fields: the settings the environment or a [clouds.<name>] table sets (core.clouds reads them).
CUSTOM_FIELDS = (
    "arm_endpoint", "arm_resource", "logs_endpoint", "logs_resource", "sql_dns_suffix", "sql_resource", "authority_host", "dns_server",
)  # fmt: skip
FILE_KEYS = frozenset({s.key for s in SETTINGS if s.in_file} | {"clouds"})


def env_name(key: str) -> str:
    return BY_KEY[key].env


def env_help(key: str) -> str:
    """The suffix help texts carry, e.g. ``[env AZSQLCTL_SERVER]`` (the bracket escaped: help is rich markup)."""
    return f"\\[env {BY_KEY[key].env}]"


@dataclass(frozen=True)
class Setting:
    value: str
    source: str  # "--server", "AZSQLCTL_SERVER", "azsqlctl.toml", "connection string", "default"


@dataclass(frozen=True)
class FileConfig:
    path: Path | None
    values: Mapping[str, TomlValue]

    @property
    def label(self) -> str:
        return self.path.name if self.path else ""

    def clouds(self) -> dict[str, dict[str, str]]:
        raw = self.values.get("clouds", {})
        if not isinstance(raw, dict):
            return {}
        return {str(k): {str(f): str(v) for f, v in t.items()} for k, t in raw.items() if isinstance(t, dict)}


def load_file_config(cwd: Path) -> FileConfig:
    own = cwd / "azsqlctl.toml"
    if own.is_file():
        return _checked(FileConfig(own, _read(own)))
    pyproject = cwd / "pyproject.toml"
    if pyproject.is_file():
        tool = _read(pyproject).get("tool", {})
        section = tool.get("azsqlctl") if isinstance(tool, dict) else None
        if isinstance(section, dict):
            return _checked(FileConfig(pyproject, section))
    return FileConfig(None, {})


def _checked(file: FileConfig) -> FileConfig:
    """Unknown keys are typos until proven otherwise: report them with the closest known key.

    The keys of each ``[clouds.<name>]`` table too: a misspelt endpoint would otherwise be
    silently ignored and surface later as "unknown cloud".
    """
    _no_unknown_keys(set(file.values), FILE_KEYS, file.label)
    raw = file.values.get("clouds", {})
    if isinstance(raw, dict):
        for name, table in raw.items():
            if isinstance(table, dict):
                _no_unknown_keys(set(table), frozenset(CUSTOM_FIELDS), f"{file.label} [clouds.{name}]")
    return file


def _no_unknown_keys(keys: set[str], known: frozenset[str], where: str) -> None:
    unknown = sorted(keys - known)
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], sorted(known), n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise ConfigError(
            f"{where} has unknown key{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}",
            f"{hint}known keys: {', '.join(sorted(known))}",
            code="unknown_config_key",
        )


def _read(path: Path) -> dict[str, TomlValue]:
    import tomllib  # only when a config file exists: --help and most runs never pay for it

    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name} is not valid TOML: {exc}", f"fix the syntax in {path}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path.name} is not UTF-8 text: {exc.reason} at byte {exc.start}", f"save {path} as UTF-8") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", "check the file's permissions") from exc


def resolve(
    key: str,
    flag: str | int | None,
    env: Mapping[str, str],
    file: FileConfig,
    default: str = "",
    *,
    flag_name: str = "",
    between: Sequence[Setting] = (),
) -> Setting:
    """The precedence rule, once: flag > environment > ``between`` (e.g. a connection string) > file > default.

    An explicitly empty flag (``--database ''``) is refused rather than silently falling back.
    """
    name = flag_name or BY_KEY[key].flag or "--" + key.replace("_", "-")
    if flag is not None:
        text = str(flag)
        if not text.strip():
            raise UsageError(
                f"{name} is empty", f"pass a value, or leave {name} out to use {env_name(key)} or the config file", code="empty_value"
            )
        return Setting(text, name)
    variable = env_name(key)
    if env.get(variable, "").strip():
        return Setting(env[variable].strip(), variable)
    for setting in between:
        if setting.value:
            return setting
    value = file.values.get(key)
    if value not in (None, "") and not isinstance(value, dict | list):
        return Setting(str(value), file.label)
    return Setting(default, "default")


def cloud_settings_with_sources(name: str, env: Mapping[str, str], file: FileConfig) -> tuple[dict[str, str], dict[str, str]]:
    """Custom-cloud fields for ``name`` (environment over the file's [clouds.<name>] table) and, per field set,
    where it came from: ``AZSQLCTL_ARM_ENDPOINT`` or ``azsqlctl.toml [clouds.x].arm_endpoint``."""
    tables = {k.lower(): (k, v) for k, v in file.clouds().items()}
    table_name, table = tables.get(name.lower(), (name, {}))
    merged = {f: table.get(f, "") for f in CUSTOM_FIELDS}
    sources = {f: f"{file.label} [clouds.{table_name}].{f}" for f in CUSTOM_FIELDS if merged[f]}
    env_cloud = env.get(env_name("cloud"), "")
    if env_cloud and env_cloud.lower() != name.lower():
        return merged, sources  # the endpoint variables describe the cloud AZSQLCTL_CLOUD names, not this one
    for field in CUSTOM_FIELDS:
        if env.get(env_name(field)):
            merged[field] = env[env_name(field)]
            sources[field] = env_name(field)
    return merged, sources
