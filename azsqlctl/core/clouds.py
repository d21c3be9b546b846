"""Cloud endpoints: the three public clouds plus custom ones (as `az cloud register` does).

A custom cloud is any other name whose endpoints come from the environment
(``AZSQLCTL_ARM_ENDPOINT`` …) or from ``[clouds.<name>]`` in the config file.
The sandbox is a custom cloud.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from .config import CUSTOM_FIELDS, env_name
from .errors import ConfigError

SANDBOX_CLOUD_NAME = "AzsqlctlSandbox"


@dataclass(frozen=True)
class Cloud:
    name: str
    arm_endpoint: str
    arm_resource: str
    logs_endpoint: str
    sql_dns_suffix: str
    sql_resource: str
    authority_host: str = "https://login.microsoftonline.com"
    ca_bundle: str = ""  # a private CA for this cloud's HTTPS and TLS endpoints
    dns_server: str = ""  # "ip[:port]" of a DNS server to resolve through (custom clouds; the sandbox)
    logs_resource: str = ""  # the Log Analytics token audience; "" = the logs endpoint (the SDK's default)

    @property
    def logs_audience(self) -> str:
        return (self.logs_resource or self.logs_endpoint).rstrip("/")

    @property
    def sql_scope(self) -> str:
        return self.sql_resource.rstrip("/") + "/.default"

    @property
    def arm_scope(self) -> str:
        return self.arm_resource.rstrip("/") + "/.default"

    @property
    def custom(self) -> bool:
        return self.name not in BUILTIN


BUILTIN: dict[str, Cloud] = {
    "AzureCloud": Cloud(
        "AzureCloud", "https://management.azure.com", "https://management.azure.com/",
        "https://api.loganalytics.io", "database.windows.net", "https://database.windows.net/",
    ),
    "AzureUSGovernment": Cloud(
        "AzureUSGovernment", "https://management.usgovcloudapi.net", "https://management.usgovcloudapi.net/",
        "https://api.loganalytics.us", "database.usgovcloudapi.net", "https://database.usgovcloudapi.net/",
        "https://login.microsoftonline.us",
    ),
    "AzureChinaCloud": Cloud(
        "AzureChinaCloud", "https://management.chinacloudapi.cn", "https://management.chinacloudapi.cn/",
        "https://api.loganalytics.azure.cn", "database.chinacloudapi.cn", "https://database.chinacloudapi.cn/",
        "https://login.chinacloudapi.cn",
    ),
}  # fmt: skip

REQUIRED_FIELDS = ("arm_endpoint", "sql_resource", "sql_dns_suffix")
URL_FIELDS = ("arm_endpoint", "arm_resource", "logs_endpoint", "logs_resource", "sql_resource", "authority_host")
# What a token scope may hold (azure-identity refuses anything else with a ValueError): an absolute URL of these.
_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(?::\d{1,5})?(?:/[A-Za-z0-9._~:/-]*)?$")
_HOST = re.compile(r"^\.?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*$")


# One example per field, so the hint fits the value that was refused.
EXAMPLES = {
    "arm_endpoint": "https://management.azure.com",
    "arm_resource": "https://management.azure.com/",
    "logs_endpoint": "https://api.loganalytics.io",
    "logs_resource": "https://api.loganalytics.io",
    "sql_resource": "https://database.windows.net/",
    "authority_host": "https://login.microsoftonline.com",
    "sql_dns_suffix": "database.windows.net",
}


def _checked(settings: Mapping[str, str], sources: Mapping[str, str] | None = None) -> None:
    """Endpoints and resources are absolute http(s) URLs, the DNS suffix a host name: said once, before any request.

    ``sources`` names where each value came from (the environment variable, or the file's
    ``[clouds.<name>].<key>``); without it the environment variable is named.
    """
    for key in CUSTOM_FIELDS:
        value = settings.get(key, "")
        if not value:
            continue
        where = (sources or {}).get(key) or env_name(key)
        if key in URL_FIELDS and not _URL.match(value):
            raise ConfigError(f"{where} {value!r} is not an absolute http(s) URL", f"e.g. {EXAMPLES[key]}", code="bad_cloud")
        if key == "sql_dns_suffix" and not _HOST.match(value):
            raise ConfigError(f"{where} {value!r} is not a DNS suffix", f"e.g. {EXAMPLES[key]}", code="bad_cloud")


def resolve_cloud(name: str, settings: Mapping[str, str], ca_bundle: str = "", sources: Mapping[str, str] | None = None) -> Cloud:
    """``settings`` holds custom-cloud fields already merged by precedence (env over file); ``sources`` says where each came from."""
    _checked(settings, sources)
    for builtin in BUILTIN.values():
        if builtin.name.lower() == name.lower():
            overrides = {k: v for k, v in settings.items() if k in CUSTOM_FIELDS and v}
            return replace(builtin, ca_bundle=ca_bundle, **overrides)
    missing = [f for f in REQUIRED_FIELDS if not settings.get(f)]
    if missing:
        known = ", ".join(BUILTIN)
        env = ", ".join(env_name(f) for f in missing)
        raise ConfigError(
            f"unknown cloud '{name}'",
            f"use one of {known}, or define a custom cloud by setting {env} (or [clouds.{name}] in azsqlctl.toml)",
            code="unknown_cloud",
        )
    arm = settings["arm_endpoint"].rstrip("/")
    return Cloud(
        name=name,
        arm_endpoint=arm,
        arm_resource=settings.get("arm_resource") or arm + "/",
        logs_endpoint=settings.get("logs_endpoint", "").rstrip("/"),
        sql_dns_suffix=settings["sql_dns_suffix"].lstrip("."),
        sql_resource=settings["sql_resource"],
        authority_host=settings.get("authority_host") or "https://login.microsoftonline.com",
        ca_bundle=ca_bundle,
        dns_server=settings.get("dns_server", ""),
        logs_resource=settings.get("logs_resource", ""),
    )
