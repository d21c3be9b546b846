"""core/doctor/request.py: what doctor was asked, validated before any probe runs - each refusal as users read
it, the connection string's place in the precedence, and what the checks and probes receive."""

from __future__ import annotations

from pathlib import Path

import pytest

from azsqlctl.core.doctor.request import DoctorRequest, DoctorRun, prepare
from azsqlctl.core.errors import AzsqlctlError, UsageError
from azsqlctl.core.settings import SettingsInput

GUID = "27C1C882-4791-57CF-8622-933ABBAC9865"
TARGET = SettingsInput(server="srv", database="appdb")


def refused(request: DoctorRequest, tmp_path: Path, env: dict[str, str] | None = None) -> AzsqlctlError:
    with pytest.raises(AzsqlctlError) as info:
        prepare(request, env or {}, tmp_path)
    return info.value


def test_a_plain_request(tmp_path: Path) -> None:
    run = prepare(DoctorRequest(TARGET), {}, tmp_path)
    assert isinstance(run, DoctorRun)
    assert (run.extra, run.admin_auth, run.admin_client_id) == ("", "", "")
    assert (run.options.client_ip, run.options.inspect) == ("", False)
    assert run.settings is run.options.settings
    assert run.settings.server is not None and run.settings.server.host == "srv.database.windows.net"
    assert run.settings.database == "appdb"


def test_client_ip_must_be_an_address(tmp_path: Path) -> None:
    assert prepare(DoctorRequest(TARGET, client_ip="2001:db8::7"), {}, tmp_path).options.client_ip == "2001:db8::7"
    error = refused(DoctorRequest(TARGET, client_ip="myhost"), tmp_path)
    assert (error.message, error.hint, error.code) == (
        "--client-ip 'myhost' is not an IP address",
        "pass this client's public IPv4 or IPv6 address",
        "bad_ip",
    )


def test_admin_auth_is_a_known_kind_and_turns_inspection_on(tmp_path: Path) -> None:
    run = prepare(DoctorRequest(TARGET, admin_auth="managed-identity", admin_client_id=GUID), {}, tmp_path)
    assert (run.admin_auth, run.admin_client_id, run.options.inspect) == ("managed-identity", GUID.lower(), True)
    error = refused(DoctorRequest(TARGET, admin_auth="sa"), tmp_path)
    assert (error.message, error.code) == ("unknown --admin-auth 'sa'", "bad_auth")
    assert error.hint == (
        "use one of: default, cli, managed-identity, workload-identity, github-actions, azure-pipelines, environment, device-code"
    )
    error = refused(DoctorRequest(TARGET, admin_client_id=GUID), tmp_path)
    assert (error.message, error.hint, error.code) == (
        "--admin-client-id without --admin-auth",
        "pass --admin-auth managed-identity too",
        "conflict",
    )
    error = refused(DoctorRequest(TARGET, admin_auth="cli", admin_client_id="me"), tmp_path)
    assert (error.message, error.code) == ("--admin-client-id 'me' is not a GUID", "bad_guid")


def test_the_connection_string_gives_target_and_extra_keywords(tmp_path: Path) -> None:
    conn = "Driver={ODBC Driver 18 for SQL Server};Server=tcp:cs.database.windows.net,1433;Database=csdb;Encrypt=yes"
    run = prepare(DoctorRequest(SettingsInput(), connection_string=conn), {}, tmp_path)
    assert run.settings.server is not None and run.settings.server.logical_name == "cs"
    assert (run.settings.database, run.extra) == ("csdb", "Encrypt=yes")
    assert run.settings.sources == {"server": "connection string", "database": "connection string"}
    # from the environment when the flag is not given; a given one (even empty) wins
    from_env = prepare(DoctorRequest(SettingsInput()), {"AZSQLCTL_CONNECTION_STRING": conn}, tmp_path)
    assert from_env.settings.database == "csdb"
    given = prepare(DoctorRequest(TARGET, connection_string=""), {"AZSQLCTL_CONNECTION_STRING": conn}, tmp_path)
    assert (given.settings.database, given.extra) == ("appdb", "")
    # flags rank over the connection string
    assert prepare(DoctorRequest(TARGET, connection_string=conn), {}, tmp_path).settings.database == "appdb"


def test_doctor_needs_a_server_and_a_database_other_than_the_default(tmp_path: Path) -> None:
    assert refused(DoctorRequest(SettingsInput(database="appdb")), tmp_path).code == "no_server"
    error = refused(DoctorRequest(SettingsInput(server="srv")), tmp_path)
    assert isinstance(error, UsageError)
    assert (error.message, error.hint, error.code) == (
        "no database given: doctor tests the database your application uses, not master",
        "pass --database appdb (or set AZSQLCTL_DATABASE); --database master tests master on purpose",
        "no_database",
    )
    assert prepare(DoctorRequest(SettingsInput(server="srv", database="master")), {}, tmp_path).settings.database == "master"
