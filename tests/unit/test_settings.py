from __future__ import annotations

from pathlib import Path

import pytest

from azsqlctl.core.clouds import BUILTIN, resolve_cloud
from azsqlctl.core.config import load_file_config
from azsqlctl.core.errors import ConfigError, NotFound, UsageError
from azsqlctl.core.settings import SettingsInput, resolve_settings


def test_precedence_flag_over_env_over_file(tmp_path: Path) -> None:
    (tmp_path / "azsqlctl.toml").write_text('server = "fileserver"\ndatabase = "filedb"\nauth = "cli"\n')
    env = {"AZSQLCTL_DATABASE": "envdb", "AZSQLCTL_AUTH": "managed-identity"}
    s = resolve_settings(SettingsInput(auth="environment"), env, tmp_path)
    assert s.server is not None and s.server.host == "fileserver.database.windows.net"
    assert (s.database, s.auth) == ("envdb", "environment")
    assert s.sources == {"server": "azsqlctl.toml", "database": "AZSQLCTL_DATABASE", "auth": "--auth"}


def test_pyproject_tool_section(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.azsqlctl]\nserver = "fromproject"\n')
    s = resolve_settings(SettingsInput(), {}, tmp_path)
    assert s.server is not None and s.server.logical_name == "fromproject"
    assert s.database == "master" and s.auth == "default" and s.timeout == 15


def test_azsqlctl_toml_wins_over_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.azsqlctl]\nserver = "fromproject"\n')
    (tmp_path / "azsqlctl.toml").write_text('server = "fromown"\n')
    assert load_file_config(tmp_path).values["server"] == "fromown"


def test_bad_toml_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "azsqlctl.toml").write_text("server = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        resolve_settings(SettingsInput(), {}, tmp_path)


def test_builtin_clouds() -> None:
    gov = resolve_cloud("azureusgovernment", {})
    assert gov.sql_scope == "https://database.usgovcloudapi.net/.default"
    assert gov.arm_scope == "https://management.usgovcloudapi.net/.default"
    assert not gov.custom
    assert resolve_cloud("AzureChinaCloud", {}).sql_dns_suffix == "database.chinacloudapi.cn"
    assert set(BUILTIN) == {"AzureCloud", "AzureUSGovernment", "AzureChinaCloud"}


def test_custom_cloud_from_file(tmp_path: Path) -> None:
    (tmp_path / "azsqlctl.toml").write_text(
        'cloud = "lab"\nserver = "db1"\n[clouds.lab]\narm_endpoint = "https://arm.lab.example/"\n'
        'sql_resource = "https://sql.lab.example/"\nsql_dns_suffix = "sql.lab.example"\n'
    )
    ca = tmp_path / "lab-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    s = resolve_settings(SettingsInput(ca_bundle=str(ca)), {}, tmp_path)
    assert s.cloud.name == "lab" and s.cloud.custom
    assert s.cloud.arm_endpoint == "https://arm.lab.example"
    assert s.cloud.arm_resource == "https://arm.lab.example/"
    assert s.cloud.ca_bundle == str(ca)
    with pytest.raises(NotFound, match=r"CA bundle '/etc/lab-ca\.pem' \(--ca-bundle\) does not exist"):
        resolve_settings(SettingsInput(ca_bundle="/etc/lab-ca.pem"), {}, tmp_path)
    assert s.server is not None and s.server.host == "db1.sql.lab.example"


def test_custom_cloud_env_applies_only_to_the_cloud_it_names(tmp_path: Path) -> None:
    env = {
        "AZSQLCTL_CLOUD": "sandbox",
        "AZSQLCTL_ARM_ENDPOINT": "https://127.0.0.1:1",
        "AZSQLCTL_SQL_RESOURCE": "https://database.windows.net/",
        "AZSQLCTL_SQL_DNS_SUFFIX": "localhost",
    }
    assert resolve_settings(SettingsInput(), env, tmp_path).cloud.arm_endpoint == "https://127.0.0.1:1"
    assert resolve_settings(SettingsInput(cloud="AzureCloud"), env, tmp_path).cloud.arm_endpoint == "https://management.azure.com"
    with pytest.raises(ConfigError, match="unknown cloud 'other'"):
        resolve_settings(SettingsInput(cloud="other"), env, tmp_path)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (SettingsInput(timeout="0"), "between 1 and 3600"),
        (SettingsInput(timeout="soon"), "not a number"),
        (SettingsInput(auth="password"), "unknown auth"),
    ],
)
def test_invalid_values(tmp_path: Path, flags: SettingsInput, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        resolve_settings(flags, {}, tmp_path)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"sql_resource": ";"}, "AZSQLCTL_SQL_RESOURCE ';' is not an absolute http(s) URL"),  # found by the CLI fuzz test: exit 70
        ({"arm_endpoint": "management.example"}, "AZSQLCTL_ARM_ENDPOINT 'management.example' is not an absolute http(s) URL"),
        ({"logs_resource": "https://api.example/ x"}, "AZSQLCTL_LOGS_RESOURCE"),
        ({"sql_dns_suffix": "db .example"}, "AZSQLCTL_SQL_DNS_SUFFIX 'db .example' is not a DNS suffix"),
    ],
)
def test_cloud_endpoints_are_urls_before_any_request(settings: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        resolve_cloud("AzureCloud", settings)


def test_cloud_overrides_that_are_urls_are_kept() -> None:
    cloud = resolve_cloud("AzureCloud", {"sql_resource": "https://database.windows.net/", "arm_endpoint": "https://127.0.0.1:8443"})
    assert cloud.sql_resource == "https://database.windows.net/" and cloud.arm_endpoint == "https://127.0.0.1:8443"
