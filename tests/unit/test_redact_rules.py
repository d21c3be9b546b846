"""redact.py's rules with exact outputs: what is hidden, what stays, where a hidden value ends."""

from __future__ import annotations

import pytest

from azsqlctl.core.redact import REDACTED, redact

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.c2lnbmF0dXJl"


def test_the_marker() -> None:
    assert REDACTED == "<redacted>"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"token {JWT} rejected", "token <redacted> token rejected"),
        ("eyJabcd.efgh.", "<redacted> token"),  # an unsigned JWT (empty third part)
        ("eyJabc.efgh.ijkl", "eyJabc.efgh.ijkl"),  # too short to be a JWT header
        # an opaque bearer token (not a JWT) is hidden too, the scheme kept
        ("Authorization: Bearer abcdefgh12345678", "Authorization: Bearer <redacted>"),
        ("authorization: bearer   A.b~c+d/e=f-g_h", "authorization: bearer   <redacted>"),
        ("Bearer short", "Bearer short"),  # under 8 characters: a word, not a token
        (f"Bearer {JWT}", "Bearer <redacted> token"),
    ],
)
def test_tokens(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Server=s;PWD=p@ss;Database=d", "Server=s;PWD=<redacted>;Database=d"),
        ("PWD={a;b}}c};UID=u", "PWD=<redacted>;UID=u"),
        ("pwd={unclosed;still secret", "pwd=<redacted>"),
        ("timeout PWD=x1;", "timeout PWD=<redacted>;"),
        ("Password=", "Password="),  # nothing to hide
        ("PWD=a\nnext line", "PWD=<redacted>\nnext line"),
        ('{"client_secret": "s\\"x", "a": 1}', '{"client_secret": <redacted>, "a": 1}'),
        ("{'password': 'abc'}", "{'password': <redacted>}"),
        ('"password": "unterminated', '"password": <redacted>'),
        ("X-IDENTITY-HEADER: abc123, next", "X-IDENTITY-HEADER: <redacted>, next"),
        ("secret: s3cr3t;rest", "secret: <redacted>;rest"),
        ("x-ms-client-secret: v}", "x-ms-client-secret: <redacted>}"),
        ("secret: ", "secret: "),  # a header name with no value
        ("could not get a password: try again", "could not get a password: try again"),  # prose, not a key
        ("Server=s;Database=d", "Server=s;Database=d"),
        ("PWD=a;PWD=b", "PWD=<redacted>;PWD=<redacted>"),
        ("PWD=Xy;UID=u", "PWD=<redacted>;UID=u"),  # an unquoted value ends at ';' whatever it starts with
        ("PWD=aXb;UID=u", "PWD=<redacted>;UID=u"),
        ("Access Token=abcd;UID=u", "Access Token=<redacted>;UID=u"),  # a two-word key
    ],
)
def test_credentials(text: str, expected: str) -> None:
    assert redact(text) == expected
