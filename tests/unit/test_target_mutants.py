"""core/target.py: the server strings users paste, parsed to one address (exact refusals, port boundaries)."""

from __future__ import annotations

import pytest

from azsqlctl.core.errors import UsageError
from azsqlctl.core.target import ServerAddress, parse_server

SUFFIX = "database.windows.net"
BAD_HINT = "use myserver, myserver.database.windows.net, host,port or tcp:host,port"


def _refusal(text: str) -> tuple[str, str, str]:
    with pytest.raises(UsageError) as info:
        parse_server(text, SUFFIX)
    return info.value.message, info.value.hint, info.value.code


def test_no_server_names_the_option_and_the_variable() -> None:
    assert _refusal("   ") == ("no server given", "pass --server myserver (or set AZSQLCTL_SERVER)", "no_server")


def test_host_colon_port_is_refused_with_the_comma_form() -> None:
    assert _refusal("myserver:1433") == ("malformed server 'myserver:1433'", "use a comma before the port: myserver,1433", "bad_server")
    assert _refusal("myserver:abc") == ("malformed server 'myserver:abc'", BAD_HINT, "bad_server")


@pytest.mark.parametrize("text", ["srv,0", "srv,65536", "srv,", "srv,\u00b2", "srv,-1", "bad host", "-srv"])
def test_bad_ports_and_hosts_are_refused(text: str) -> None:
    assert _refusal(text) == (f"malformed server '{text}'", BAD_HINT, "bad_server")


def test_port_boundaries_and_spaces_around_parts() -> None:
    assert parse_server("srv,1", SUFFIX) == ServerAddress(f"srv.{SUFFIX}", 1, "srv")
    assert parse_server("srv,65535", SUFFIX).port == 65535
    assert parse_server(" tcp:srv , 1444 ", SUFFIX) == ServerAddress(f"srv.{SUFFIX}", 1444, "srv")


def test_names_are_lower_cased_without_the_trailing_dot() -> None:
    assert parse_server("SRVX", SUFFIX) == ServerAddress(f"srvx.{SUFFIX}", 1433, "srvx")
    assert parse_server("MySrv.Database.Windows.Net.", SUFFIX) == ServerAddress("mysrv.database.windows.net", 1433, "mysrv")
    assert parse_server("localhost,1500", SUFFIX) == ServerAddress("localhost", 1500, "")
    assert parse_server("[::1],1500", SUFFIX) == ServerAddress("::1", 1500, "")
    assert parse_server("10.0.0.4", SUFFIX).display == "10.0.0.4"
    assert parse_server("10.0.0.4,1500", SUFFIX).odbc_server == "tcp:10.0.0.4,1500"
