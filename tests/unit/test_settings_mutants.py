"""core/settings.py: the shared connection settings, resolved from flags, environment and file - each check's
message, bound and default, and where every value came from (pure logic; files in tmp_path)."""

from __future__ import annotations

from pathlib import Path

import pytest

from azsqlctl.core import settings as st
from azsqlctl.core.clouds import BUILTIN
from azsqlctl.core.config import FileConfig
from azsqlctl.core.errors import AzsqlctlError, NotFound, UsageError
from azsqlctl.core.settings import AuthKind, SettingsInput, resolve_settings
from azsqlctl.core.target import ServerAddress

GUID = "27C1C882-4791-57CF-8622-933ABBAC9865"
NO_FILE = FileConfig(None, {})


def resolved(tmp_path: Path, env: dict[str, str] | None = None, **flags: str | bool) -> st.ConnectionSettings:
    return resolve_settings(SettingsInput(**flags), env or {}, tmp_path, NO_FILE)  # type: ignore[arg-type]


def refusal(tmp_path: Path, env: dict[str, str] | None = None, **flags: str | bool) -> AzsqlctlError:
    with pytest.raises(AzsqlctlError) as info:
        resolved(tmp_path, env, **flags)
    return info.value


def test_auth_kinds_as_the_cli_spells_them() -> None:
    assert st.AUTH_KINDS == (
        "default", "cli", "managed-identity", "workload-identity", "github-actions", "azure-pipelines", "environment", "device-code",
    )  # fmt: skip
    assert SettingsInput().client_id_flag == "--client-id"
    assert (SettingsInput().trust_server_certificate, SettingsInput().strict) == (False, False)


def test_defaults_when_nothing_is_given(tmp_path: Path) -> None:
    s = resolved(tmp_path)
    assert s == st.ConnectionSettings(
        cloud=BUILTIN["AzureCloud"], server=None, database="master", subscription="", resource_group="", auth=AuthKind.DEFAULT,
        client_id="", tenant_id="", driver="", trust_server_certificate=False, strict=False, timeout=15, sources={},
    )  # fmt: skip
    assert s.warnings == () and not s.from_environment
    with pytest.raises(UsageError) as info:
        s.require_server()
    assert (info.value.message, info.value.hint, info.value.code) == (
        "no server given",
        "pass --server myserver (or set AZSQLCTL_SERVER)",
        "no_server",
    )


def test_every_value_and_its_source(tmp_path: Path) -> None:
    env = {"AZSQLCTL_SERVER": "srv,1444", "AZSQLCTL_TENANT_ID": "t1", "AZSQLCTL_CLOUD": "AzureChinaCloud"}
    s = resolved(
        tmp_path, env, database="appdb", subscription=GUID, resource_group="rg", auth="cli", client_id=GUID, driver="d18",
        timeout="2.9", trust_server_certificate=True, strict=True,
    )  # fmt: skip
    assert s.server == ServerAddress("srv.database.chinacloudapi.cn", 1444, "srv") and s.require_server() is s.server
    assert (s.cloud.name, s.database, s.resource_group, s.auth, s.tenant_id, s.driver) == (
        "AzureChinaCloud", "appdb", "rg", AuthKind.CLI, "t1", "d18",
    )  # fmt: skip
    assert (s.subscription, s.client_id) == (GUID.lower(), GUID.lower())
    assert (s.timeout, s.trust_server_certificate, s.strict) == (2, True, True)
    assert s.warnings == ("--trust-server-certificate disables certificate validation: use it for local/dev targets only",)
    assert s.sources == {
        "server": "AZSQLCTL_SERVER", "database": "--database", "subscription": "--subscription", "resource_group": "--resource-group",
        "cloud": "AZSQLCTL_CLOUD", "auth": "--auth", "client_id": "--client-id", "tenant_id": "AZSQLCTL_TENANT_ID",
        "driver": "--driver", "timeout": "--timeout",
    }  # fmt: skip
    assert s.from_environment
    assert not resolved(tmp_path, server="srv").from_environment


def test_the_connection_string_ranks_between_environment_and_file(tmp_path: Path) -> None:
    file = FileConfig(Path("azsqlctl.toml"), {"server": "fileserver", "database": "filedb"})
    given = SettingsInput(server_from_connection_string="cs", database_from_connection_string="csdb")
    s = resolve_settings(given, {"AZSQLCTL_DATABASE": "envdb"}, tmp_path, file)
    assert (s.server, s.database) == (ServerAddress("cs.database.windows.net", 1433, "cs"), "envdb")
    assert s.sources == {"server": "connection string", "database": "AZSQLCTL_DATABASE"}
    assert resolve_settings(SettingsInput(), {}, tmp_path, file).sources == {"server": "azsqlctl.toml", "database": "azsqlctl.toml"}


def test_the_file_is_read_from_cwd_when_not_given(tmp_path: Path) -> None:
    (tmp_path / "azsqlctl.toml").write_text('database = "fromfile"\n')
    assert resolve_settings(SettingsInput(), {}, tmp_path).database == "fromfile"
    assert resolve_settings(SettingsInput(), {}, tmp_path, NO_FILE).database == "master"  # a given file wins


def test_auth_is_one_of_the_kinds(tmp_path: Path) -> None:
    error = refusal(tmp_path, auth="password")
    assert (error.message, error.hint, error.code) == ("unknown auth 'password'", f"use one of: {', '.join(st.AUTH_KINDS)}", "bad_auth")
    assert resolved(tmp_path, {"AZSQLCTL_AUTH": "device-code"}).auth is AuthKind.DEVICE_CODE


@pytest.mark.parametrize(("text", "seconds"), [("1", 1), ("3600", 3600), ("1.5", 1), ("15", 15)])
def test_timeout_bounds_accepted(tmp_path: Path, text: str, seconds: int) -> None:
    assert resolved(tmp_path, timeout=text).timeout == seconds


@pytest.mark.parametrize("text", ["0", "0.9", "3601", "-5"])
def test_timeout_out_of_bounds(tmp_path: Path, text: str) -> None:
    error = refusal(tmp_path, timeout=text)
    assert (error.message, error.hint, error.code) == (
        f"timeout must be between 1 and 3600 seconds, got {text}",
        "pass --timeout 15 or more for remote servers",
        "bad_timeout",
    )


@pytest.mark.parametrize("text", ["soon", "inf", "1e999"])
def test_timeout_not_a_number(tmp_path: Path, text: str) -> None:
    error = refusal(tmp_path, timeout=text)
    assert (error.message, error.hint, error.code) == (
        f"timeout '{text}' is not a number",
        "pass --timeout SECONDS (at least 1)",
        "bad_timeout",
    )
    assert error.__cause__ is None and error.__suppress_context__


def test_guids_are_checked_and_named_by_their_source(tmp_path: Path) -> None:
    error = refusal(tmp_path, client_id="api")
    assert (error.message, error.hint, error.code) == ("--client-id 'api' is not a GUID", st.CLIENT_ID_HINT, "bad_guid")
    assert st.CLIENT_ID_HINT == (
        "client ids look like 27c1c882-4791-57cf-8622-933abbac9865: az identity show -g RG -n NAME --query clientId"
    )
    error = refusal(tmp_path, {"AZSQLCTL_SUBSCRIPTION": "prod"})
    assert (error.message, error.hint) == ("AZSQLCTL_SUBSCRIPTION 'prod' is not a GUID", st.SUBSCRIPTION_HINT)
    assert st.SUBSCRIPTION_HINT == "subscription ids look like 27c1c882-4791-57cf-8622-933abbac9865: az account show --query id"
    grant = SettingsInput(client_id="x", client_id_flag="--operator-client-id")
    with pytest.raises(UsageError, match=r"^--operator-client-id 'x' is not a GUID$"):
        resolve_settings(grant, {}, tmp_path, NO_FILE)
    assert st.parse_guid(GUID, "--x") == GUID.lower()


def test_database_names_up_to_128_characters(tmp_path: Path) -> None:
    assert st.MAX_DATABASE_NAME == 128
    assert resolved(tmp_path, database="d" * 128).database == "d" * 128
    error = refusal(tmp_path, database="d" * 129)
    assert (error.message, error.hint, error.code) == (
        "--database is 129 characters long; database names are at most 128",
        "pass the database's name as the portal or `az sql db list --query [].name` shows it",
        "bad_database",
    )


def test_the_ca_bundle_must_be_a_file_relative_to_cwd(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    (tmp_path / "certs").mkdir()
    assert resolved(tmp_path, ca_bundle="ca.pem").cloud.ca_bundle == "ca.pem"
    assert resolved(tmp_path, ca_bundle=str(tmp_path / "ca.pem")).sources["ca_bundle"] == "--ca-bundle"
    error = refusal(tmp_path, ca_bundle="certs")
    assert isinstance(error, NotFound)
    assert (error.message, error.hint, error.code) == (
        "CA bundle 'certs' (--ca-bundle) is not a file",
        "pass --ca-bundle with the PEM file of the CA that signs the server's certificates",
        "ca_bundle_not_found",
    )
    assert refusal(tmp_path, {"AZSQLCTL_CA_BUNDLE": "gone.pem"}).message == "CA bundle 'gone.pem' (AZSQLCTL_CA_BUNDLE) does not exist"
