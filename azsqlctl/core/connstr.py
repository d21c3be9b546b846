"""ODBC connection strings: the one reader, for doctor (test the application's string as is) and for redaction.

The grammar is the driver's: ``KEY=value`` pairs separated by ``;``; a value starting with ``{`` runs to the
next lone ``}`` (``}}`` is a literal ``}``) and may hold ``;``, ``=`` and spaces; other values run to the next
``;`` and keep inner spaces. Keys are case-insensitive.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import UsageError

SERVER_KEYS = ("server", "data source", "address", "addr")
DATABASE_KEYS = ("database", "initial catalog")

# Keys whose value is a credential, normalised (lower case, no spaces/underscores/hyphens): ODBC's PWD and its
# Password alias, Always Encrypted's KeyStoreSecret, and the token/secret/key spellings other drivers and
# Azure connection strings use (AccessToken, ClientSecret, AccountKey, SharedAccessKey, SharedAccessSignature).
_SECRET_EXACT = frozenset({"pwd", "passwd", "pass", "sig"})
_SECRET_SUFFIXES = ("password", "secret", "token", "accountkey", "accesskey", "apikey", "signature", "credential")


def normal_key(key: str) -> str:
    return "".join(ch for ch in key.lower() if ch not in " \t_-")


def is_secret_key(key: str) -> bool:
    norm = normal_key(key)
    return norm in _SECRET_EXACT or norm.endswith(_SECRET_SUFFIXES)


@dataclass(frozen=True)
class Pair:
    key: str
    value: str
    start: int  # where the key begins
    end: int  # just past the value (its closing '}' when braced)
    closed: bool = True  # False: a braced value ran to the end without its '}'


def read_value(text: str, i: int, *, stop: str = ";") -> tuple[str, int, bool]:
    """The value starting at ``text[i]``: (value, index after it, closed). Braced values unescape ``}}``.

    Never raises: an unclosed brace takes the rest of the text (closed=False), so a redactor hides it all.
    """
    n = len(text)
    if i < n and text[i] == "{":
        out = []
        j = i + 1
        while j < n:
            if text[j] == "}":
                if text[j + 1 : j + 2] == "}":
                    out.append("}")
                    j += 2
                    continue
                return "".join(out), j + 1, True
            out.append(text[j])
            j += 1
        return "".join(out), n, False
    ends = [k for k in (text.find(c, i) for c in stop) if k >= 0]
    end = min(ends) if ends else n
    return text[i:end].strip(), end, True


def pairs(conn_str: str) -> list[Pair]:
    """Every pair with its position; tolerant (a keyword without '=' is skipped, an open brace runs to the end)."""
    found: list[Pair] = []
    i, n = 0, len(conn_str)
    while i < n:
        while i < n and conn_str[i] in "; \t":
            i += 1
        if i >= n:
            break
        eq = conn_str.find("=", i)
        semi = conn_str.find(";", i)
        if eq < 0 or (0 <= semi < eq):
            if eq < 0:
                break
            i = semi + 1
            continue
        key = conn_str[i:eq].strip()
        j = eq + 1
        while j < n and conn_str[j] in " \t":
            j += 1
        value, after, closed = read_value(conn_str, j)
        found.append(Pair(key, value, i, after, closed))
        i = after
    return found


def parse(conn_str: str) -> list[tuple[str, str]]:
    """KEY=value pairs; values may be {braced} with }} escaping, as ODBC allows. Malformed input is a usage error.

    Messages give positions, never the text there: a mis-quoted string's fragments may be a password.
    """
    result = pairs(conn_str)
    covered = 0
    for pair in result:
        if conn_str[covered : pair.start].strip("; \t"):
            break
        covered = pair.end
    if conn_str[covered:].strip("; \t") or any(not p.closed for p in result):
        if result and not result[-1].closed:
            raise UsageError(
                "connection string has an unclosed '{'",
                "close braced values with '}' (a '}' inside is written '}}')",
                code="bad_connection_string",
            )
        raise UsageError(
            f"connection string has a keyword without a value at character {covered + 1}",
            "use KEY=value;KEY=value, and brace values that hold ';' as KEY={value}",
            code="bad_connection_string",
        )
    return [(p.key, p.value) for p in result]


def braced(value: str) -> str:
    return "{" + value.replace("}", "}}") + "}"


def split_target(conn_str: str) -> tuple[str, str, str]:
    """(server, database, the other keywords re-joined) - DRIVER is dropped: doctor picks the driver."""
    server = database = ""
    rest = []
    for key, value in parse(conn_str):
        lower = key.lower()
        if lower in SERVER_KEYS:
            server = value
        elif lower in DATABASE_KEYS:
            database = value
        elif lower != "driver":
            rest.append(f"{key}={braced(value)}" if any(c in value for c in ";{}") else f"{key}={value}")
    return server, database, ";".join(rest)
