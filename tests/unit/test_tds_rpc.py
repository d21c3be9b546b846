"""RPC requests: decoding what drivers send, and the responses of the system procedures that run SQL."""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import struct
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as hst

from azsqlctl.sandbox.sql.engine.results import Column, ErrorMessage, ResultSet, StatementResult
from azsqlctl.sandbox.sql.sqltypes import MAX, Param, SqlType, TypeSpec
from azsqlctl.sandbox.sql.tds import tokens as tk
from azsqlctl.sandbox.sql.tds import typeinfo as ti
from azsqlctl.sandbox.sql.tds import typeread as tr
from azsqlctl.sandbox.sql.tds.rpc import RpcDispatcher, bind, parse_declarations, parse_rpc

# Captured from pyodbc 5 + ODBC Driver 18.6 (ALL_HEADERS removed): cursor.execute("SELECT ?, ?", 1, "x😀")
ODBC_PREPEXEC = bytes.fromhex(
    "ffff0d00000000012604000000e7ffff0904d00034feffffffffffffff2e000000400050003100200069006e0074002c00400050"
    "00320020006e007600610072006300680061007200280036002900000000000000e7ffff0904d00034feffffffffffffff1e00"
    "0000530045004c0045004300540020004000500031002c002000400050003200000000000000260404010000000000e70c0009"
    "04d00034060078003dd800de"
)
# ... and the type catalog query it makes first: [sys].[sp_datatype_info_100] -9, @ODBCVer = 4
ODBC_DATATYPE_INFO = bytes.fromhex(
    "1a005b007300790073005d002e00730070005f00640061007400610074007900700065005f0069006e0066006f005f00310030"
    "00300000000000260202f7ff0840004f004400420043005600650072000026010104"
)

# tedious 18 (node): request.addParameter a Int 42, b NVarChar 'x😀', c DateTimeOffset, d Decimal(5,2) 1.25
TEDIOUS_EXECUTESQL = bytes.fromhex(
    "ffff0a0000000a4000730074006100740065006d0065006e00740000e72a000904d000342a00530045004c004500430054002000"
    "400061002c002000400062002c002000400063002c0020004000640007400070006100720061006d00730000e77c000904d00034"
    "7c0040006100200069006e0074002c0020004000620020006e0076006100720063006800610072002800330029002c0020004000"
    "630020006400610074006500740069006d0065006f00660066007300650074002800370029002c00200040006400200064006500"
    "630069006d0061006c00280035002c002000320029000240006100002604042a000000024000620000e706000904d00034060078"
    "003dd800de0240006300002b070a804055b71946460b00000240006400006a05050205017d000000"
)
# python-tds 1.17: cursor.execute("SELECT %s, %s", (42, "grüße 🙂"))
PYTDS_EXECUTESQL = bytes.fromhex(
    "ffff0a0000000000e7ffff0904d00034feffffffffffffff1e000000530045004c0045004300540020004000500031002c002000"
    "400050003200000000000000e7ffff0904d00034feffffffffffffff32000000400050003100200049004e0054002c0040005000"
    "320020004e00560041005200430048004100520028004d004100580029000000000003400050003100002604042a000000034000"
    "5000320000e7ffff0904d00034feffffffffffffff1000000067007200fc00df00650020003dd842de00000000"
)


def test_odbc_sp_prepexec_decodes() -> None:
    (call,) = parse_rpc(ODBC_PREPEXEC)
    assert (call.name, call.proc_id, call.options) == ("sp_prepexec", 13, 0)
    handle, decl, stmt, p1, p2 = call.params
    assert (handle.name, handle.spec, handle.value, handle.output) == ("", TypeSpec(SqlType.INT), None, True)
    assert decl.value == "@P1 int,@P2 nvarchar(6)" and decl.spec == TypeSpec(SqlType.NVARCHAR, MAX)  # PLP, unknown length
    assert stmt.value == "SELECT @P1, @P2"
    assert (p1.value, p2.value, p2.spec) == (1, "x😀", TypeSpec(SqlType.NVARCHAR, 6))


def test_tedious_and_python_tds_sp_executesql_decode() -> None:
    (call,) = parse_rpc(TEDIOUS_EXECUTESQL)
    assert (call.name, call.proc_id) == ("sp_executesql", 10)
    names = [p.name for p in call.params]
    assert names == ["@statement", "@params", "@a", "@b", "@c", "@d"]
    assert call.params[0].spec == TypeSpec(SqlType.NVARCHAR, 21)  # tedious sends nvarchar(n), not PLP
    assert call.params[1].value == "@a int, @b nvarchar(3), @c datetimeoffset(7), @d decimal(5, 2)"
    a, b, c, d = (p.value for p in call.params[2:])
    assert (a, b, d) == (42, "x😀", decimal.Decimal("1.25"))
    assert c == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert call.params[4].spec == TypeSpec(SqlType.DATETIMEOFFSET, scale=7)

    (call,) = parse_rpc(PYTDS_EXECUTESQL)
    assert (call.name, call.proc_id) == ("sp_executesql", 10)
    assert [(p.name, p.value) for p in call.params] == [
        ("", "SELECT @P1, @P2"),
        ("", "@P1 INT,@P2 NVARCHAR(MAX)"),
        ("@P1", 42),
        ("@P2", "grüße 🙂"),
    ]
    assert call.params[3].spec == TypeSpec(SqlType.NVARCHAR, MAX)


def test_odbc_datatype_info_decodes_by_name() -> None:
    (call,) = parse_rpc(ODBC_DATATYPE_INFO)
    assert (call.name, call.proc_id) == ("sp_datatype_info_100", None)
    assert [(p.name, p.value) for p in call.params] == [("", -9), ("@ODBCVer", 4)]


# --- a client-side encoder, as tedious / python-tds write RPCs ------------------------------------


def param(name: str, spec: TypeSpec, value: Any, output: bool = False) -> bytes:
    fitted = ti.fit(spec, [value])
    return tk.b_varchar(name) + bytes([1 if output else 0]) + ti.type_info(fitted) + ti.value(fitted, value)


def rpc(proc: str | int, *params: bytes, options: int = 0) -> bytes:
    head = struct.pack("<HH", 0xFFFF, proc) if isinstance(proc, int) else tk.us_varchar(proc)
    return head + struct.pack("<H", options) + b"".join(params)


NV = TypeSpec(SqlType.NVARCHAR)


class Echo:
    """A backend whose statements return the bound parameters as one row."""

    server_name = "srv"

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[Param]]] = []

    def execute(self, ctx: Any, sql: str, params: Sequence[Param]) -> tuple[list[StatementResult], bool]:
        self.calls.append((sql, list(params)))
        if sql == "fail":
            return [StatementResult(error=ErrorMessage(245, 1, 16, "Conversion failed."))], False
        columns = tuple(Column(p.name, p.spec) for p in params)
        return [StatementResult(result=ResultSet(columns, (tuple(p.value for p in params),)))], True


def tokens(stream: bytes) -> list[tuple[int, Any]]:
    """A small reader of the server token stream, enough to check what the dispatcher wraps around statements."""
    r = tr.Reader(stream)
    out: list[tuple[int, Any]] = []
    specs: list[tr.WireType] = []
    while r.remaining:
        t = r.u8()
        if t == tk.COLMETADATA:
            specs = []
            for _ in range(r.u16()):
                r.take(6)
                specs.append(tr.read_type_info(r))
                r.b_varchar()
            out.append((t, [w.spec() for w in specs]))
        elif t == tk.ROW:
            out.append((t, [tr.read_value(r, w) for w in specs]))
        elif t in (tk.DONE, tk.DONEPROC, tk.DONEINPROC):
            status, _cmd, count = struct.unpack("<HHQ", r.take(12))
            out.append((t, (status, count)))
        elif t == tk.RETURNSTATUS:
            out.append((t, struct.unpack("<i", r.take(4))[0]))
        elif t == tk.RETURNVALUE:
            ordinal, name, _status = r.u16(), r.b_varchar(), r.u8()
            r.take(6)
            out.append((t, (ordinal, name, tr.read_value(r, tr.read_type_info(r)))))
        elif t == tk.ERROR:
            body = r.take(r.u16())
            number = struct.unpack_from("<i", body)[0]
            (n,) = struct.unpack_from("<H", body, 6)
            out.append((t, (number, body[8 : 8 + 2 * n].decode("utf-16-le"))))
        else:
            raise AssertionError(f"unexpected token {t:#x}")
    return out


def test_prepexec_then_execute_then_unprepare() -> None:
    backend = Echo()
    d = RpcDispatcher(backend)
    body = rpc(
        13,
        param("@handle", TypeSpec(SqlType.INT), None, True),
        param("@params", NV, "@P1 int"),
        param("@stmt", NV, "SELECT @P1"),
        param("", TypeSpec(SqlType.INT), 5),
    )
    got = tokens(d.run(None, parse_rpc(body)))
    assert [t for t, _ in got] == [tk.COLMETADATA, tk.ROW, tk.DONEINPROC, tk.RETURNSTATUS, tk.RETURNVALUE, tk.DONEPROC]
    handle = got[4][1][2]
    assert got[1][1] == [5] and got[4][1][:2] == (0, "@handle") and isinstance(handle, int)
    assert got[2] == (tk.DONEINPROC, (tk.DONE_COUNT | tk.DONE_MORE, 1))  # the procedure goes on after it
    assert backend.calls[-1] == ("SELECT @P1", [Param("@P1", TypeSpec(SqlType.INT), 5)])

    got = tokens(d.run(None, parse_rpc(rpc(12, param("", TypeSpec(SqlType.INT), handle), param("", TypeSpec(SqlType.INT), 6)))))
    assert got[1] == (tk.ROW, [6]) and got[-1][0] == tk.DONEPROC

    assert tokens(d.run(None, parse_rpc(rpc(15, param("", TypeSpec(SqlType.INT), handle))))) == [
        (tk.RETURNSTATUS, 0),
        (tk.DONEPROC, (0, 0)),
    ]
    got = tokens(d.run(None, parse_rpc(rpc(12, param("", TypeSpec(SqlType.INT), handle), param("", TypeSpec(SqlType.INT), 6)))))
    assert got == [(tk.ERROR, (8179, f"Could not find prepared statement with handle {handle}.")), (tk.DONEPROC, (tk.DONE_ERROR, 0))]


def test_handles_belong_to_one_session() -> None:
    a, b = RpcDispatcher(Echo()), RpcDispatcher(Echo())
    prepare = rpc(11, param("", TypeSpec(SqlType.INT), None, True), param("", NV, ""), param("", NV, "SELECT 1"))
    got = tokens(a.run(None, parse_rpc(prepare)))
    assert [t for t, _ in got] == [tk.RETURNSTATUS, tk.RETURNVALUE, tk.DONEPROC]
    handle = got[1][1][2]
    assert tokens(b.run(None, parse_rpc(rpc(12, param("", TypeSpec(SqlType.INT), handle)))))[0] == (
        tk.ERROR,
        (8179, f"Could not find prepared statement with handle {handle}."),
    )


def test_executesql_binds_by_name_and_returns_output_parameters() -> None:
    backend = Echo()
    body = rpc(
        "sp_executesql",
        param("", NV, "SELECT @a, @b"),
        param("", NV, "@a nvarchar(10), @b int OUTPUT"),
        param("@b", TypeSpec(SqlType.INT), 2, output=True),
        param("@a", NV, "😀"),
    )
    got = tokens(RpcDispatcher(backend).run(None, parse_rpc(body)))
    assert backend.calls == [
        ("SELECT @a, @b", [Param("@a", TypeSpec(SqlType.NVARCHAR, 4000), "😀"), Param("@b", TypeSpec(SqlType.INT), 2, True)])
    ]
    assert got[-3:] == [(tk.RETURNSTATUS, 0), (tk.RETURNVALUE, (2, "@b", 2)), (tk.DONEPROC, (0, 0))]


def test_several_rpcs_in_one_request_and_an_error_in_between() -> None:
    backend = Echo()
    one = rpc("sp_executesql", param("", NV, "SELECT 1"))
    bad = rpc("sp_executesql", param("", NV, "fail"))
    got = tokens(RpcDispatcher(backend).run(None, parse_rpc(one + b"\x80" + bad + b"\xff" + one)))
    procs = [v for t, v in got if t == tk.DONEPROC]
    assert procs == [(tk.DONE_MORE, 0), (tk.DONE_MORE | tk.DONE_ERROR, 0), (0, 0)]
    assert (tk.ERROR, (245, "Conversion failed.")) in got
    assert [sql for sql, _ in backend.calls] == ["SELECT 1", "fail", "SELECT 1"]


def test_unknown_procedures_and_missing_parameters() -> None:
    d = RpcDispatcher(Echo())
    assert tokens(d.run(None, parse_rpc(rpc("dbo.get_orders"))))[0] == (tk.ERROR, (2812, "Could not find stored procedure 'get_orders'."))
    number = tokens(d.run(None, parse_rpc(rpc(2, param("", NV, "x")))))[0][1][0]
    assert number == 40517  # sp_cursoropen: real, but outside what the sandbox runs
    body = rpc("sp_executesql", param("", NV, "SELECT @x"), param("", NV, "@x int"))
    text = "The parameterized query '(@x int)SELECT @x' expects the parameter '@x', which was not supplied."
    assert tokens(d.run(None, parse_rpc(body)))[0] == (tk.ERROR, (8178, text))


def test_datatype_info_answers_with_the_odbc_columns() -> None:
    got = tokens(RpcDispatcher(Echo()).run(None, parse_rpc(ODBC_DATATYPE_INFO)))
    assert [t for t, _ in got] == [tk.COLMETADATA, tk.ROW, tk.DONEINPROC, tk.RETURNSTATUS, tk.DONEPROC]
    row = got[1][1]
    assert row[:3] == ["nvarchar", -9, 4000]
    every = tokens(RpcDispatcher(Echo()).run(None, parse_rpc(rpc("sp_datatype_info_100", param("", TypeSpec(SqlType.SMALLINT), 0)))))
    names = [v[0] for t, v in every if t == tk.ROW]
    assert {"int", "bigint", "decimal", "datetime2", "datetimeoffset", "uniqueidentifier", "varbinary", "time", "date"} <= set(names)


def test_declarations() -> None:
    decls = parse_declarations("@P1 decimal(10, 2),@P2 nvarchar(max) OUTPUT, @P3 datetime2(3),@p4 varbinary(16)")
    assert [(d.name, d.spec, d.output) for d in decls] == [
        ("@P1", TypeSpec(SqlType.DECIMAL, precision=10, scale=2), False),
        ("@P2", TypeSpec(SqlType.NVARCHAR, MAX), True),
        ("@P3", TypeSpec(SqlType.DATETIME2, scale=3), False),
        ("@p4", TypeSpec(SqlType.VARBINARY, 16), False),
    ]
    with pytest.raises(Exception, match="too many arguments"):
        bind("@a int", "SELECT @a", [Param("", TypeSpec(SqlType.INT), 1), Param("", TypeSpec(SqlType.INT), 2)])


@given(hst.binary(max_size=300))
def test_rpc_decoder_fails_only_with_decode_errors(data: bytes) -> None:
    with contextlib.suppress(tr.TdsDecodeError):
        parse_rpc(data)


@given(hst.lists(hst.sampled_from([ODBC_PREPEXEC, ODBC_DATATYPE_INFO]), min_size=1, max_size=4), hst.sampled_from([b"\x80", b"\xff"]))
def test_batches_of_captured_requests(parts: list[bytes], sep: bytes) -> None:
    calls = parse_rpc(sep.join(parts))
    assert [c.name for c in calls] == ["sp_prepexec" if p == ODBC_PREPEXEC else "sp_datatype_info_100" for p in parts]


def test_each_type_infos_length_is_what_read_type_info_reads() -> None:
    """read_param_type finds a TYPE_INFO it has read before by its bytes: the length it slices for each type code
    must be exactly what read_type_info consumes, or a parameter would be read from the wrong offset."""
    collation = b"\x09\x04\xd0\x00\x34"
    samples = {
        ti.INTN: b"\x04", ti.FLTN: b"\x08", ti.BITN: b"\x01", ti.GUID: b"\x10", ti.MONEYN: b"\x08", ti.DATETIMN: b"\x08",
        ti.DECIMALN: b"\x11\x12\x02", ti.NUMERICN: b"\x05\x09\x00", ti.TIMEN: b"\x07", ti.DATETIME2N: b"\x03",
        ti.DATETIMEOFFSETN: b"\x07", ti.DATEN: b"", ti.VARCHAR: b"\x20" + collation, ti.VARBINARY: b"\x20",
        ti.NVARCHAR: b"\xff\xff" + collation, ti.BIGVARBIN: b"\x40\x00", ti.NTEXT: b"\xff\xff\xff\x7f" + collation,
        ti.IMAGE: b"\xff\xff\xff\x7f", ti.INT4: b"",
    }  # fmt: skip
    for code, rest in samples.items():
        data = bytes([code]) + rest
        r = tr.Reader(data + b"\xaa")
        tr.read_type_info(r)
        assert r.pos == len(data) == tr._TYPE_INFO_BYTES[code], hex(code)
        for _ in range(2):  # read, then found by its bytes: the same type, the same offset after it
            r = tr.Reader(data + b"\xaa")
            assert tr.read_param_type(r)[1] == tr.read_type_info(tr.Reader(data)).spec()
            assert r.pos == len(data)


def test_a_type_info_once_refused_is_refused_again() -> None:
    """Only TYPE_INFOs read_type_info accepted are remembered: a bad length stays an error every time."""
    for _ in range(2):
        with pytest.raises(tr.TdsDecodeError):
            tr.read_param_type(tr.Reader(bytes([ti.INTN, 3])))
