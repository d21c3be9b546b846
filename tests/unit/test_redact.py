"""Secrets never leak in pieces (issue 15, point 2): redaction reads credentials with the ODBC grammar."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from azsqlctl.core.connstr import braced, is_secret_key, parse, split_target
from azsqlctl.core.errors import UsageError
from azsqlctl.core.redact import REDACTED, redact

# Every 4-character window of a generated secret holds one of these letters, which no surrounding text uses,
# so "no fragment of 4 characters appears" can be asserted without false alarms.
RARE = "λжΩ漢ßŁ"
secret_part = st.sampled_from([";", "}", "}}", "=", " ", "{", ",", "'", '"', "\\", "é", "🙂", "pwd", "a"])
secrets_ = st.lists(st.tuples(st.sampled_from(RARE), secret_part), min_size=2, max_size=12).map(
    lambda parts: "".join(a + b for a, b in parts)
)
# Unbraced values end at ';' and cannot start with '{': the same shape without those.
unbraced_part = st.sampled_from(["}", "=", " ", ",", "é", "🙂", "pwd", "a"])
unbraced_secrets = st.lists(st.tuples(st.sampled_from(RARE), unbraced_part), min_size=2, max_size=12).map(
    lambda parts: "".join(a + b for a, b in parts).strip()
)
SECRET_KEYS = ["PWD", "pwd", "Password", "PASSWORD", "Secret", "AccessToken", "Access Token", "KeyStoreSecret", "client_secret"]


def fragments(secret: str) -> set[str]:
    return {secret[i : i + 4] for i in range(len(secret) - 3)}


def assert_no_fragment(secret: str, text: str) -> None:
    for frag in fragments(secret):
        assert frag not in text and json.dumps(frag)[1:-1] not in text, (frag, text)


def test_the_issues_examples() -> None:
    assert redact("PWD={p@ss;w0rd-LEAK x}") == f"PWD={REDACTED}"
    assert redact("Server=a;Password=LEAK two;Encrypt=yes") == f"Server=a;Password={REDACTED};Encrypt=yes"
    assert (
        redact("could not get a token: connection refused (token endpoint)") == "could not get a token: connection refused (token endpoint)"
    )
    assert redact("pwd={never closed; LEAK") == f"pwd={REDACTED}"


@given(secret=secrets_, key=st.sampled_from(SECRET_KEYS))
def test_no_piece_of_a_braced_secret_survives_and_the_rest_is_kept(secret: str, key: str) -> None:
    conn = f"DRIVER={{ODBC Driver 18 for SQL Server}};SERVER=tcp:db.example,1433;{key}={braced(secret)};Encrypt=yes;APP={{x}}"
    assert dict(parse(conn))[key] == secret  # the one parser reads it back exactly
    line = f"connecting: driver 18 (system), {conn}, login timeout 15s"
    out = redact(line)
    assert_no_fragment(secret, out)
    assert "SERVER=tcp:db.example,1433" in out and "Encrypt=yes;APP={x}" in out and f"{key}={REDACTED}" in out


@given(secret=unbraced_secrets, key=st.sampled_from(SECRET_KEYS))
def test_no_piece_of_an_unbraced_secret_survives(secret: str, key: str) -> None:
    assert dict(parse(f"Server=x;{key}={secret}"))[key] == secret
    assert_no_fragment(secret, redact(f"Server=x;{key}={secret}"))
    assert_no_fragment(secret, redact(f"Server=x;{key}={secret};Encrypt=yes"))


@given(secret=secrets_, key=st.sampled_from(["client_secret", "access_token", "password", "refresh_token"]))
def test_no_piece_of_a_quoted_secret_survives(secret: str, key: str) -> None:
    body = json.dumps({"grant_type": "client_credentials", key: secret, "scope": "https://database.windows.net/.default"})
    out = redact(f"request body: {body}")
    assert_no_fragment(secret, out)
    assert_no_fragment(secret, redact(repr({key: secret})))


@pytest.mark.parametrize(
    ("key", "secret"),
    [("PWD", True), ("Password", True), ("AccessToken", True), ("Access Token", True), ("KeyStoreSecret", True),
     ("AccountKey", True), ("SharedAccessSignature", True), ("Server", False), ("Database", False), ("APP", False),
     ("Encrypt", False), ("KeyStoreAuthentication", False)],
)  # fmt: skip
def test_secret_keys_are_case_insensitive_and_spacing_insensitive(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret and is_secret_key(key.upper()) is secret


@pytest.mark.parametrize("bad", ["Server=a;p@ssLEAK;Database=b", "Server=a;PWD={LEAK", "Server=a;PWD={x}LEAK"])
def test_malformed_strings_are_refused_without_quoting_their_text(bad: str) -> None:
    with pytest.raises(UsageError) as err:
        parse(bad)
    assert "LEAK" not in err.value.message + err.value.hint


def test_split_target_keeps_braced_values_exact() -> None:
    server, database, rest = split_target("Driver={x};Server=tcp:h,1;Initial Catalog={a;b};PWD={p}}w;d};Encrypt=yes")
    assert (server, database) == ("tcp:h,1", "a;b")
    assert dict(parse(rest)) == {"PWD": "p}w;d", "Encrypt": "yes"}
