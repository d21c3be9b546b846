"""ODBC connection strings: parse the one an application uses, so doctor can test it as is."""

from __future__ import annotations

from .errors import UsageError

SERVER_KEYS = ("server", "data source", "address", "addr")
DATABASE_KEYS = ("database", "initial catalog")


def parse(conn_str: str) -> list[tuple[str, str]]:
    """KEY=value pairs; values may be {braced} with }} escaping, as ODBC allows."""
    pairs: list[tuple[str, str]] = []
    i, n = 0, len(conn_str)
    while i < n:
        while i < n and conn_str[i] in "; \t":
            i += 1
        if i >= n:
            break
        eq = conn_str.find("=", i)
        if eq < 0:
            raise UsageError(
                f"connection string has a keyword without a value near '{conn_str[i : i + 20]}'",
                "use KEY=value;KEY=value",
                code="bad_connection_string",
            )
        key = conn_str[i:eq].strip()
        i = eq + 1
        if i < n and conn_str[i] == "{":
            value, i = _braced(conn_str, i + 1)
        else:
            end = conn_str.find(";", i)
            end = n if end < 0 else end
            value, i = conn_str[i:end].strip(), end
        pairs.append((key, value))
    return pairs


def _braced(text: str, i: int) -> tuple[str, int]:
    out = []
    while i < len(text):
        if text[i] == "}":
            if text[i + 1 : i + 2] == "}":
                out.append("}")
                i += 2
                continue
            return "".join(out), i + 1
        out.append(text[i])
        i += 1
    raise UsageError("connection string has an unclosed '{'", "close braced values with '}'", code="bad_connection_string")


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
            rest.append(f"{key}={{{value.replace('}', '}}')}}}" if any(c in value for c in ";{}") else f"{key}={value}")
    return server, database, ";".join(rest)
