"""Settings precedence: command-line flag > environment > config file > default.

The file is ``azsqlctl.toml`` in the working directory, or ``[tool.azsqlctl]`` in
``pyproject.toml``. Each resolved value remembers where it came from, so a
diagnosis can say "server from AZSQLCTL_SERVER".
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError

KEYS = (
    "server", "database", "subscription", "resource_group", "cloud", "auth", "client_id", "tenant_id",
    "driver", "ca_bundle", "output", "timeout",
)  # fmt: skip
ENV_PREFIX = "AZSQLCTL_"
ENV_ALIASES = {"driver": "AZSQLCTL_ODBC_DRIVER"}


def env_name(key: str) -> str:
    return ENV_ALIASES.get(key, ENV_PREFIX + key.upper())


@dataclass(frozen=True)
class Setting:
    value: str
    source: str  # "--server", "AZSQLCTL_SERVER", "azsqlctl.toml", "default"


@dataclass(frozen=True)
class FileConfig:
    path: Path | None
    values: dict[str, Any]

    @property
    def label(self) -> str:
        return self.path.name if self.path else ""

    def clouds(self) -> dict[str, dict[str, str]]:
        raw = self.values.get("clouds", {})
        return {str(k): {str(f): str(v) for f, v in t.items()} for k, t in raw.items() if isinstance(t, dict)}


def load_file_config(cwd: Path) -> FileConfig:
    own = cwd / "azsqlctl.toml"
    if own.is_file():
        return FileConfig(own, _read(own))
    pyproject = cwd / "pyproject.toml"
    if pyproject.is_file():
        section = _read(pyproject).get("tool", {}).get("azsqlctl")
        if isinstance(section, dict):
            return FileConfig(pyproject, section)
    return FileConfig(None, {})


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name} is not valid TOML: {exc}", f"fix the syntax in {path}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", "check the file's permissions") from exc


def resolve(key: str, flag: Any, env: Mapping[str, str], file: FileConfig, default: str = "", flag_name: str = "") -> Setting:
    if flag not in (None, ""):
        return Setting(str(flag), flag_name or "--" + key.replace("_", "-"))
    name = env_name(key)
    if env.get(name):
        return Setting(env[name], name)
    value = file.values.get(key)
    if value not in (None, "") and not isinstance(value, dict):
        return Setting(str(value), file.label)
    return Setting(default, "default")


def cloud_settings(name: str, env: Mapping[str, str], file: FileConfig) -> dict[str, str]:
    """Custom-cloud fields for ``name``: environment over the file's [clouds.<name>] table."""
    from .clouds import CUSTOM_FIELDS

    table = {k.lower(): v for k, v in file.clouds().items()}.get(name.lower(), {})
    merged = {f: table.get(f, "") for f in CUSTOM_FIELDS}
    env_cloud = env.get(ENV_PREFIX + "CLOUD", "")
    if env_cloud and env_cloud.lower() != name.lower():
        return merged  # the endpoint variables describe the cloud AZSQLCTL_CLOUD names, not this one
    for field in CUSTOM_FIELDS:
        if env.get(ENV_PREFIX + field.upper()):
            merged[field] = env[ENV_PREFIX + field.upper()]
    return merged
