"""TYPE_INFO and value codecs: every SqlType round-trips through the bytes the server sends and parses."""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import struct
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

from azsqlctl.sandbox.sql.sqltypes import MAX, SqlType, TypeSpec
from azsqlctl.sandbox.sql.tds import tokens as tk
from azsqlctl.sandbox.sql.tds import typeinfo as ti
from azsqlctl.sandbox.sql.tds import typeread as tr
from azsqlctl.sandbox.sql.tds.wire import negotiate_packet_size
from tests.property_budget import examples

# Text with characters outside the BMP (emoji, CJK extension B), which UTF-16 spells with two code units.
text = hst.text(alphabet=hst.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=60)
non_bmp = hst.text(alphabet=hst.sampled_from("a😀𠀋é\u0000\U0010fffd"), min_size=1, max_size=40)
aware = hst.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=hst.sampled_from(
    [dt.UTC, dt.timezone(dt.timedelta(hours=14)), dt.timezone(-dt.timedelta(hours=14)), dt.timezone(dt.timedelta(hours=5, minutes=30))]
))  # fmt: skip

STRATEGIES: dict[SqlType, tuple[TypeSpec, Any]] = {
    SqlType.NVARCHAR: (TypeSpec(SqlType.NVARCHAR, 4000), text | non_bmp),
    SqlType.VARCHAR: (
        TypeSpec(SqlType.VARCHAR, 8000),
        hst.text(alphabet=hst.characters(codec="cp1252", exclude_characters="\x81\x8d\x8f\x90\x9d"), max_size=60),
    ),
    SqlType.VARBINARY: (TypeSpec(SqlType.VARBINARY, 8000), hst.binary(max_size=200)),
    SqlType.BIT: (TypeSpec(SqlType.BIT), hst.booleans()),
    SqlType.TINYINT: (TypeSpec(SqlType.TINYINT), hst.integers(0, 255)),
    SqlType.SMALLINT: (TypeSpec(SqlType.SMALLINT), hst.integers(-(2**15), 2**15 - 1)),
    SqlType.INT: (TypeSpec(SqlType.INT), hst.integers(-(2**31), 2**31 - 1)),
    SqlType.BIGINT: (TypeSpec(SqlType.BIGINT), hst.integers(-(2**63), 2**63 - 1)),
    SqlType.DECIMAL: (
        TypeSpec(SqlType.DECIMAL, precision=38, scale=6),
        hst.decimals(min_value=-(10**31) + 1, max_value=10**31 - 1, places=6),
    ),
    SqlType.MONEY: (TypeSpec(SqlType.MONEY), hst.decimals(min_value=-922337203685477, max_value=922337203685477, places=4)),
    SqlType.FLOAT: (TypeSpec(SqlType.FLOAT), hst.floats(allow_nan=False, allow_infinity=False)),
    SqlType.REAL: (TypeSpec(SqlType.REAL), hst.floats(width=32, allow_nan=False, allow_infinity=False)),
    SqlType.UNIQUEIDENTIFIER: (TypeSpec(SqlType.UNIQUEIDENTIFIER), hst.uuids()),
    SqlType.DATE: (TypeSpec(SqlType.DATE), hst.dates()),
    SqlType.TIME: (TypeSpec(SqlType.TIME, scale=7), hst.times()),
    SqlType.DATETIME: (
        TypeSpec(SqlType.DATETIME),
        hst.datetimes(min_value=dt.datetime(1753, 1, 1), max_value=dt.datetime(9999, 12, 31, 23, 59, 59)),
    ),
    SqlType.DATETIME2: (TypeSpec(SqlType.DATETIME2, scale=7), hst.datetimes()),
    SqlType.DATETIMEOFFSET: (TypeSpec(SqlType.DATETIMEOFFSET, scale=7), aware),
}


def round_trip(spec: TypeSpec, value: Any) -> tuple[TypeSpec, Any]:
    fitted = ti.fit(spec, [value])
    reader = tr.Reader(ti.type_info(fitted) + ti.value(fitted, value))
    wire = tr.read_type_info(reader)
    decoded = tr.read_value(reader, wire)
    assert reader.remaining == 0
    return wire.spec(), decoded


def test_every_sql_type_has_a_strategy() -> None:
    assert set(STRATEGIES) == set(SqlType)


@pytest.mark.parametrize("sql_type", list(SqlType))
def test_values_round_trip(sql_type: SqlType) -> None:
    spec, strategy = STRATEGIES[sql_type]

    @settings(max_examples=examples(60), deadline=None)
    @given(strategy)
    def check(value: Any) -> None:
        got_spec, got = round_trip(spec, value)
        assert got_spec.type == sql_type
        if sql_type == SqlType.REAL:
            assert got == struct.unpack("<f", struct.pack("<f", value))[0]
        elif sql_type == SqlType.DATETIME:
            assert abs(got - value) <= dt.timedelta(milliseconds=2)  # 1/300 s ticks
        else:
            assert got == value
            assert type(got) is type(value)

    check()
    assert round_trip(spec, None)[1] is None  # NULL of every type


@settings(deadline=None, max_examples=examples(20))
@given(hst.integers(0, 7), hst.times())
def test_fractional_seconds_truncate_to_the_scale(scale: int, value: dt.time) -> None:
    _spec, got = round_trip(TypeSpec(SqlType.TIME, scale=scale), value)
    step = 10 ** (6 - min(scale, 6))
    assert got == value.replace(microsecond=value.microsecond // step * step)


def test_decimal_precision_and_scale_reach_the_wire() -> None:
    spec = TypeSpec(SqlType.DECIMAL, precision=5, scale=3)
    assert ti.type_info(spec) == bytes([ti.DECIMALN, 5, 5, 3])
    assert round_trip(spec, decimal.Decimal("-12.345")) == (spec, decimal.Decimal("-12.345"))
    with pytest.raises(ValueError, match="does not fit"):
        ti.value(spec, decimal.Decimal("123.4"))


@settings(deadline=None, max_examples=examples(10))
@given(non_bmp)
def test_max_values_over_a_megabyte_go_out_as_plp(chunk: str) -> None:
    big = (chunk * (600_000 // len(chunk) + 1))[:600_000]  # >= 1.2 MB of UTF-16
    spec, got = round_trip(TypeSpec(SqlType.NVARCHAR), big)
    assert spec == TypeSpec(SqlType.NVARCHAR, MAX)
    assert got == big
    blob = bytes(range(256)) * 5000
    assert round_trip(TypeSpec(SqlType.VARBINARY), blob) == (TypeSpec(SqlType.VARBINARY, MAX), blob)


def test_plp_chunks_of_unknown_total_length_are_reassembled() -> None:
    data = "😀 chunked".encode("utf-16-le")
    raw = struct.pack("<Q", ti.PLP_UNKNOWN) + b"".join(
        struct.pack("<I", len(data[i : i + 3])) + data[i : i + 3] for i in range(0, len(data), 3)
    )
    reader = tr.Reader(bytes([ti.NVARCHAR]) + b"\xff\xff" + ti.COLLATION + raw + b"\x00\x00\x00\x00")
    assert tr.read_value(reader, tr.read_type_info(reader)) == "😀 chunked"
    with pytest.raises(tr.TdsDecodeError):  # a truncated chunk
        tr.read_value(tr.Reader(raw[:-1]), tr.WireType(ti.NVARCHAR, 0xFFFF))


def test_legacy_and_fixed_types_decode() -> None:
    cases: list[tuple[bytes, Any]] = [
        (bytes([ti.INT4]) + struct.pack("<i", -7), -7),
        (bytes([ti.FLT8]) + struct.pack("<d", 2.5), 2.5),
        (bytes([ti.BIT, 1]), True),
        (bytes([ti.NTEXT]) + struct.pack("<I", 0x7FFFFFFF) + ti.COLLATION + struct.pack("<I", 4) + "hé".encode("utf-16-le"), "hé"),
        (bytes([ti.TEXT]) + struct.pack("<I", 0x7FFFFFFF) + ti.COLLATION + struct.pack("<I", 0xFFFFFFFF), None),
        (bytes([ti.IMAGE]) + struct.pack("<I", 0x7FFFFFFF) + struct.pack("<I", 2) + b"\x01\x02", b"\x01\x02"),
        (bytes([ti.MONEYN, 4, 4]) + struct.pack("<i", -15000), decimal.Decimal("-1.5000")),
        (bytes([ti.DATETIMN, 4, 4]) + struct.pack("<HH", 1, 61), dt.datetime(1900, 1, 2, 1, 1)),
        (bytes([ti.NULLTYPE]), None),
    ]
    for raw, expected in cases:
        reader = tr.Reader(raw)
        assert tr.read_value(reader, tr.read_type_info(reader)) == expected
        assert reader.remaining == 0


def test_lengths_count_utf16_code_units() -> None:
    assert tk.b_varchar("😀") == b"\x02" + "😀".encode("utf-16-le")
    assert tk.us_varchar("a😀") == b"\x03\x00" + "a😀".encode("utf-16-le")
    err = tk.error(50000, 1, 16, "name 😀 here", "srv😀")
    (length,) = struct.unpack_from("<H", err, 1)
    assert length == len(err) - 3  # the token's own length matches what was written


def test_result_columns_carry_their_type_spec_and_long_text_goes_max() -> None:
    columns = [tk.Column("n"), tk.Column("d", spec=TypeSpec(SqlType.DATETIMEOFFSET, scale=3)), tk.Column("i", "int")]
    stream = tk.result_set(columns, [["x" * 4001, None, 1]], done_token=tk.DONEINPROC)
    reader = tr.Reader(stream, 1)
    assert reader.u16() == 3
    specs = []
    for _ in range(3):
        reader.take(6)
        specs.append(tr.read_type_info(reader).spec())
        reader.b_varchar()
    assert specs == [TypeSpec(SqlType.NVARCHAR, MAX), TypeSpec(SqlType.DATETIMEOFFSET, scale=3), TypeSpec(SqlType.INT)]
    assert stream[-13] == tk.DONEINPROC
    short = tk.result_set([tk.Column("n")], [["abc"]])
    assert short[-13] == tk.DONE  # a SQL batch's statements end in DONE


def test_varchar_that_cp1252_cannot_spell_goes_out_as_nvarchar() -> None:
    assert ti.fit(TypeSpec(SqlType.VARCHAR, 10), ["😀"]) == TypeSpec(SqlType.NVARCHAR, 10)
    assert ti.fit(TypeSpec(SqlType.VARCHAR, 10), ["é"]) == TypeSpec(SqlType.VARCHAR, 10)


def test_returnvalue_and_fedauthinfo_layouts() -> None:
    rv = tk.returnvalue(0, "@handle", TypeSpec(SqlType.INT), 7)
    assert rv == bytes([0xAC, 0, 0, 7]) + "@handle".encode("utf-16-le") + b"\x01" + struct.pack("<IH", 0, 9) + bytes(
        [0x26, 4, 4]
    ) + struct.pack("<i", 7)
    info = tk.fedauthinfo("https://login.example/tenant", "https://database.windows.net/")
    assert info[0] == 0xEE
    (length, count) = struct.unpack_from("<II", info, 1)
    assert length == len(info) - 5 and count == 2
    body = info[5:]
    options = {}
    for i in range(count):
        fid, size, offset = struct.unpack_from("<BII", body, 4 + 9 * i)
        options[fid] = body[offset : offset + size].decode("utf-16-le")
    assert options == {1: "https://login.example/tenant", 2: "https://database.windows.net/"}


def test_packet_size_is_clamped_to_what_azure_allows() -> None:
    assert [negotiate_packet_size(n) for n in (0, 100, 4096, 16384, 32767, 65535)] == [4096, 512, 4096, 16384, 32767, 32767]


@given(hst.binary(max_size=64))
def test_type_info_decoder_fails_only_with_decode_errors(data: bytes) -> None:
    reader = tr.Reader(data)
    with contextlib.suppress(tr.TdsDecodeError):
        tr.read_value(reader, tr.read_type_info(reader))


def test_uuid_is_little_endian_on_the_wire() -> None:
    u = uuid.UUID("00112233-4455-6677-8899-aabbccddeeff")
    assert ti.value(TypeSpec(SqlType.UNIQUEIDENTIFIER), u)[1:] == bytes.fromhex("33221100554477668899aabbccddeeff")
