from __future__ import annotations

import json
import time

import pytest

from azsqlctl.core import jwt
from azsqlctl.core.clouds import BUILTIN
from azsqlctl.core.connstr import parse, split_target
from azsqlctl.core.doctor.judge import judge_token
from azsqlctl.core.doctor.schedule import Status, Stop
from azsqlctl.core.errors import UsageError
from azsqlctl.core.queryhash import query_hash
from azsqlctl.core.tsql import quote_name, quote_string

CLOUD = BUILTIN["AzureCloud"]
APP = "6e3f0a4e-1b2c-4d5e-8f90-123456789abc"


def token(**claims: object) -> str:
    base = {
        "aud": "https://database.windows.net/",
        "tid": "t1",
        "oid": "o1",
        "appid": APP,
        "idtyp": "app",
        "exp": int(time.time()) + 3600,
        "nbf": int(time.time()),
    }
    # Times relative to now, computed when the test runs: collection can be minutes earlier on a busy run.
    for key, value in claims.items():
        if key.endswith("_in"):
            base[key.removesuffix("_in")] = int(time.time()) + int(str(value))
        else:
            base[key] = value
    return ".".join(jwt.b64url_encode(json.dumps(p).encode()) for p in ({"alg": "RS256"}, base)) + ".c2ln"


@pytest.mark.parametrize(
    ("claims", "host", "status", "finding"),
    [
        ({}, "srv.database.windows.net", Status.PASS, "Azure SQL will look for a user with SID 0x4E0A3F6E2C1B5E4D8F90123456789ABC"),
        ({"aud": "https://database.windows.net"}, "srv.database.windows.net", Status.PASS, "app"),
        ({"aud": "https://graph.microsoft.com"}, "srv.database.windows.net", Status.FAIL, "the token is for Microsoft Graph"),
        (
            {"aud": "https://database.usgovcloudapi.net/"},
            "srv.database.windows.net",
            Status.FAIL,
            "the server is in AzureCloud but the token audience is https://database.usgovcloudapi.net/",
        ),
        ({"exp_in": -60}, "srv.database.windows.net", Status.FAIL, "the token expired"),
        ({"exp_in": 120}, "srv.database.windows.net", Status.WARN, "expires in"),
        ({"nbf_in": 3600}, "srv.database.windows.net", Status.FAIL, "not valid yet"),
    ],
)
def test_token_judgments(claims: dict[str, object], host: str, status: Status, finding: str) -> None:
    # Times relative to now, computed when the test runs (collection may be minutes earlier in a full run).
    now = int(time.time())
    claims = {k.removesuffix("_in"): now + int(v) if k.endswith("_in") else v for k, v in claims.items()}  # type: ignore[call-overload]
    outcome, _ident = judge_token(token(**claims), CLOUD, host)
    assert outcome.status == status and finding in outcome.finding


def test_not_a_jwt() -> None:
    with pytest.raises(Stop, match="not a JWT"):
        judge_token("opaque-token-value", CLOUD, "x.database.windows.net")


def test_quote_name_and_hash() -> None:
    assert quote_name("orders]api") == "[orders]]api]"
    assert quote_string("it's") == "N'it''s'"
    with pytest.raises(ValueError, match="1-128"):
        quote_name("x" * 129)
    assert query_hash("SELECT * FROM t WHERE id = 42") == query_hash("select *  from t where id = 7")


def test_connection_strings() -> None:
    assert parse("Driver={ODBC Driver 18 for SQL Server};Server=tcp:x,1433;PWD={a;b}}c}") == [
        ("Driver", "ODBC Driver 18 for SQL Server"), ("Server", "tcp:x,1433"), ("PWD", "a;b}c")]  # fmt: skip
    assert split_target("Server=s;Initial Catalog=db;UID=u;Encrypt=yes") == ("s", "db", "UID=u;Encrypt=yes")
    with pytest.raises(UsageError):
        parse("Server={unclosed")
