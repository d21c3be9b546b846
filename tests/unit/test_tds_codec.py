"""The sandbox's TDS codecs: round trips and fuzzing of what a hostile client can send."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as hst

from azsqlctl.protocol.prelogin import ENCRYPT_ON, ENCRYPT_REQ, PL_ENCRYPTION, PL_FEDAUTHREQUIRED, build_prelogin, parse_prelogin
from azsqlctl.sandbox.sql.engine.batch import split
from azsqlctl.sandbox.sql.tds import tokens as tk
from azsqlctl.sandbox.sql.tds.handshake import parse_login7, prelogin_response


def test_prelogin_round_trip_and_azure_answer() -> None:
    client = parse_prelogin(build_prelogin([(PL_ENCRYPTION, bytes([ENCRYPT_ON])), (PL_FEDAUTHREQUIRED, b"\x01")]))
    answer = parse_prelogin(prelogin_response(client, strict=False))
    assert answer[PL_ENCRYPTION] == bytes([ENCRYPT_ON])
    assert answer[PL_FEDAUTHREQUIRED] == b"\x01"
    off = parse_prelogin(prelogin_response({PL_ENCRYPTION: b"\x00"}, strict=False))
    assert off[PL_ENCRYPTION] == bytes([ENCRYPT_REQ])  # Azure insists on encryption


def _login7(database: str, token: str) -> bytes:
    fields = {
        "host": "h",
        "user": "",
        "password": "",
        "app": "app",
        "server": "srv",
        "library": "ODBC",
        "language": "",
        "database": database,
    }
    texts = b""
    offsets = []
    base = 94
    for name in ("host", "user", "password", "app", "server"):
        data = fields[name].encode("utf-16-le")
        offsets.append((base + len(texts), len(fields[name])))
        texts += data
    ext_offset = base + len(texts)
    texts += b"\x00\x00\x00\x00"  # patched below with the FeatureExt offset
    offsets.append((ext_offset, 4))
    for name in ("library", "language", "database"):
        data = fields[name].encode("utf-16-le")
        offsets.append((base + len(texts), len(fields[name])))
        texts += data
    feature_at = base + len(texts)
    token_bytes = token.encode("utf-16-le")
    fedauth = bytes([0x01 << 1]) + struct.pack("<I", len(token_bytes)) + token_bytes
    features = bytes([0x02]) + struct.pack("<I", len(fedauth)) + fedauth + b"\xff"
    fixed = struct.pack("<IIIIII", 0, 0x74000004, 4096, 0, 0, 0) + bytes([0, 0, 0, 0x10]) + struct.pack("<ii", 0, 0x409)
    fixed += b"".join(struct.pack("<HH", o, n) for o, n in offsets) + b"\x00" * 6 + struct.pack("<HHHHHHI", 0, 0, 0, 0, 0, 0, 0)
    body = bytearray(fixed + texts + features)
    struct.pack_into("<I", body, ext_offset, feature_at)
    struct.pack_into("<I", body, 0, len(body))
    return bytes(body)


def test_login7_fedauth_token_and_database() -> None:
    login = parse_login7(_login7("appdb", "eyJhbGciOi.x.y"))
    assert (login.database, login.servername, login.appname, login.library) == ("appdb", "srv", "app", "ODBC")
    assert login.fedauth_token == "eyJhbGciOi.x.y"
    assert login.tds_version == 0x74000004


@given(hst.binary(max_size=400))
def test_parsers_fail_only_with_value_errors(data: bytes) -> None:
    for parse in (parse_prelogin, parse_login7):
        with contextlib.suppress(ValueError, struct.error, IndexError):
            parse(data)


def test_token_encodings() -> None:
    assert tk.done(tk.DONE_COUNT, 3) == bytes([0xFD]) + struct.pack("<HHQ", 0x10, 0xC1, 3)
    ack = tk.loginack()
    assert ack[0] == 0xAD and ack[4:8] == struct.pack(">I", 0x74000004)  # TDS version is big-endian
    err = tk.error(18456, 1, 14, "Login failed for user ''.", "srv")
    assert struct.unpack_from("<iBB", err, 3) == (18456, 1, 14)


@given(hst.lists(hst.sampled_from(["SELECT 1", "SELECT 'a;b'", "SET NOCOUNT ON", "SELECT N'it''s'"]), min_size=1, max_size=5))
def test_split_statements_respects_quotes(parts: list[str]) -> None:
    assert [st.text for st in split(";".join(parts))] == parts


def test_msal_workflow_login_takes_its_token_from_the_fedauth_token_message() -> None:
    from azsqlctl.sandbox.sql.tds.handshake import FEATURE_FEDAUTH, FEDAUTH_LIBRARY_MSAL, Login7, parse_fedauth_token

    # ODBC Driver 18 Authentication=ActiveDirectoryMsi: bOptions 0x05 (MSAL library, echo), workflow 0x01.
    login = Login7(0x74000004, 4096, 0x10, features={FEATURE_FEDAUTH: b"\x05\x01"})
    assert (login.fedauth_library, login.fedauth_workflow) == (FEDAUTH_LIBRARY_MSAL, 0x01)
    assert login.fedauth_token == ""  # no token yet: a login attempted now is refused as malformed
    token = "eyJ.x.y\x00".encode("utf-16-le")  # the driver NUL-terminates it
    body = struct.pack("<II", 4 + len(token), len(token)) + token
    login.workflow_token = parse_fedauth_token(body)
    assert login.fedauth_token == "eyJ.x.y"
    with pytest.raises(ValueError, match="does not match"):
        parse_fedauth_token(body[:-1])  # truncated
