"""Parsers of client bytes refuse what is over their limits while reading, never after buffering it."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from azsqlctl.core import jsonlimits, jwt
from azsqlctl.protocol.tds import SQL_BATCH, frame
from azsqlctl.sandbox.sql.tds.typeread import Reader, TdsDecodeError, read_plp, read_type_info
from azsqlctl.sandbox.sql.tds.wire import ConnectionClosed, MessageTooLarge, read_message


@pytest.mark.parametrize(
    ("text", "depth"),
    [("1", 0), ("{}", 1), ("[[1], {}]", 2), ('{"a": "[[[["}', 1), ('"\\"["', 0), ('["\\\\", [1]]', 2), ("[" * 5000, 5000)],
)
def test_depth_ignores_brackets_in_strings(text: str, depth: int) -> None:
    assert jsonlimits.depth(text) == depth


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab'),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=20,
)


def _nesting(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((_nesting(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_nesting(v) for v in value.values()), default=0)
    return 0


@given(json_values)
def test_depth_matches_the_parsed_nesting(value: object) -> None:
    assert jsonlimits.depth(json.dumps(value)) == _nesting(value)


def test_loads_refuses_too_deep_or_too_large_and_accepts_the_limit() -> None:
    assert jsonlimits.depth(json.dumps(jsonlimits.loads("[" * 64 + "]" * 64, max_bytes=1000))) == 64
    with pytest.raises(jsonlimits.JsonRejected, match="deeper than 64"):
        jsonlimits.loads("[" * 65 + "]" * 65, max_bytes=1000)
    with pytest.raises(jsonlimits.JsonRejected, match="over the 10-byte limit"):
        jsonlimits.loads('{"a": 12345}', max_bytes=10)
    with pytest.raises(jsonlimits.JsonRejected, match="not valid JSON"):
        jsonlimits.loads(b"{nope", max_bytes=100)


def _token(header: str) -> str:
    enc = base64.urlsafe_b64encode(header.encode()).rstrip(b"=").decode()
    return f"{enc}.e30.c2ln"


@pytest.mark.parametrize("depth", [65, 5_000, 100_000])
def test_jwt_with_a_deeply_nested_header_is_malformed_not_a_recursion_error(depth: int) -> None:
    with pytest.raises(jwt.MalformedToken):
        jwt.split(_token("[" * depth + "]" * depth))


def test_jwt_limits_length_and_ascii() -> None:
    with pytest.raises(jwt.MalformedToken, match="longer than"):
        jwt.split("a" * (jwt.MAX_TOKEN_CHARS + 1))
    with pytest.raises(jwt.MalformedToken):
        jwt.split("é.é.é")
    assert jwt.split(_token('{"alg": "none"}'))[0] == {"alg": "none"}


class Bytes:
    """A channel over fixed bytes (what a client sent), read exactly as the server reads a socket."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def recv_exact(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ConnectionClosed("end of input")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def send(self, data: bytes) -> None:
        del data


def _message(size: int, packet: int = 4000) -> bytes:
    chunks = [b"x" * min(packet, size - i) for i in range(0, size, packet)]
    return b"".join(frame(SQL_BATCH, c, i + 1, status=1 if i == len(chunks) - 1 else 0) for i, c in enumerate(chunks))


def test_message_over_its_limit_closes_before_login() -> None:
    with pytest.raises(ConnectionClosed, match="over its 10000-byte limit"):
        read_message(Bytes(_message(40_000)), 10_000)


def test_request_over_the_memory_limit_is_drained_and_the_next_one_is_read() -> None:
    ch = Bytes(_message(40_000) + _message(10))
    with pytest.raises(MessageTooLarge):
        read_message(ch, 10_000, packet_limit=65_536)
    assert read_message(ch, 10_000, packet_limit=65_536).body == b"x" * 10  # the stream is still in step


def test_request_over_the_packet_count_closes() -> None:
    with pytest.raises(ConnectionClosed, match="over 5 packets"):
        read_message(Bytes(_message(40_000)), 10_000, packet_limit=5)


@pytest.mark.parametrize("raw", [b"\x26\x03", b"\x6d\x02", b"\x6e\x05", b"\x6f\x01", b"\x68\x02", b"\x24\x08"])
def test_nullable_types_with_impossible_lengths_are_decode_errors(raw: bytes) -> None:
    with pytest.raises(TdsDecodeError, match="cannot have length"):
        read_type_info(Reader(raw))


def test_plp_over_its_limit_is_a_decode_error() -> None:
    with pytest.raises(TdsDecodeError, match="over the 100-byte limit"):
        read_plp(Reader((1000).to_bytes(8, "little"), max_plp=100))
    unknown = (2**64 - 2).to_bytes(8, "little") + (60).to_bytes(4, "little") + b"a" * 60 + (60).to_bytes(4, "little") + b"b" * 60
    with pytest.raises(TdsDecodeError, match="over the 100-byte limit"):
        read_plp(Reader(unknown, max_plp=100))
