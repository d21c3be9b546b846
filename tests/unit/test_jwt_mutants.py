"""core/jwt.py: splitting a compact JWS without trusting it, and reading numeric claims."""

from __future__ import annotations

import json

import pytest

from azsqlctl.core.jwt import MAX_TOKEN_CHARS, MalformedToken, b64url_decode, b64url_encode, claims, number_claim, split


def _token(header: object, payload: object, signature: bytes = b"sig") -> str:
    enc = [b64url_encode(json.dumps(p).encode()) for p in (header, payload)]
    return ".".join([*enc, b64url_encode(signature)])


def test_base64url_has_no_padding_and_round_trips() -> None:
    assert b64url_encode(b"\xfb\xff") == "-_8"
    assert b64url_decode("-_8") == b"\xfb\xff"
    assert b64url_decode("YQ") == b"a"
    with pytest.raises(MalformedToken, match=r"^bad base64url$"):
        b64url_decode("ab\u00e9")


def test_split_returns_header_claims_signing_input_and_signature() -> None:
    token = _token({"alg": "RS256"}, {"oid": "x", "exp": 5}, b"\x01\x02")
    header, body, signing_input, signature = split(token)
    assert header == {"alg": "RS256"}
    assert body == {"oid": "x", "exp": 5} == claims(token)
    assert signing_input == token.rsplit(".", 1)[0].encode("ascii")
    assert signature == b"\x01\x02"


@pytest.mark.parametrize(
    "token",
    ["a.b", "a.b.c.d", ".e30.", "e30..", "e30.e30.sig\u00e9", ""],
)
def test_split_refuses_anything_but_three_ascii_parts(token: str) -> None:
    with pytest.raises(MalformedToken, match=r"^expected three dot-separated base64url parts$"):
        split(token)


def test_split_refuses_non_json_and_non_objects() -> None:
    with pytest.raises(MalformedToken, match=r"^header or payload is not JSON$"):
        split("bm9wZQ.e30.")
    with pytest.raises(MalformedToken, match=r"^header or payload is not JSON$"):
        split("e30.bm9wZQ.")
    with pytest.raises(MalformedToken, match=r"^header and payload must be JSON objects$"):
        split(_token([1], {}))
    with pytest.raises(MalformedToken, match=r"^header and payload must be JSON objects$"):
        split(_token({}, [1]))
    deep = b64url_encode(b"[" * 100 + b"]" * 100)
    with pytest.raises(MalformedToken, match=r"^header or payload is not JSON$"):
        split(f"e30.{deep}.")


def test_split_accepts_a_token_of_exactly_the_limit_and_refuses_one_more() -> None:
    assert MAX_TOKEN_CHARS == 131072
    pad = next(p for p in ("", "x", "xx") if (MAX_TOKEN_CHARS - len(_token({"a": 1}, {"b": p}, b""))) % 4 != 1)
    head = _token({"a": 1}, {"b": pad}, b"")
    exact = head + "A" * (MAX_TOKEN_CHARS - len(head))  # the signature part takes the rest
    assert len(exact) == MAX_TOKEN_CHARS
    assert split(exact)[1] == {"b": pad}
    with pytest.raises(MalformedToken, match=f"^longer than {MAX_TOKEN_CHARS} characters$"):
        split(head + "A" * (MAX_TOKEN_CHARS + 1 - len(head)))


def test_number_claim_reads_numbers_and_numeric_text_else_zero() -> None:
    assert number_claim({"exp": 1700000000}, "exp") == 1700000000.0
    assert number_claim({"exp": 1.5}, "exp") == 1.5
    assert number_claim({"exp": "42"}, "exp") == 42.0
    assert number_claim({}, "exp") == 0.0
    assert number_claim({"exp": True}, "exp") == 0.0
    assert number_claim({"exp": None}, "exp") == 0.0
    assert number_claim({"exp": [1]}, "exp") == 0.0
    assert number_claim({"exp": "soon"}, "exp") == 0.0
