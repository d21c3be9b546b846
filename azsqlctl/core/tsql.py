"""The one audited place where identifiers and literals become T-SQL text.

Values travel as parameters wherever T-SQL allows; DDL (CREATE USER, ALTER ROLE)
takes no parameters for names, so names go through ``quote_name`` - QUOTENAME
semantics: wrapped in brackets, ``]`` doubled, at most 128 characters.
"""

from __future__ import annotations

from .identity import MAX_NAME, IdentitySpec, canonical_guid, sid_hex

__all__ = ["MAX_NAME", "BadIdentifier", "create_user", "guid_literal", "quote_name", "quote_string", "sid_literal"]


class BadIdentifier(ValueError):
    pass


def quote_name(name: str) -> str:
    if not name or len(name) > MAX_NAME:
        raise BadIdentifier(f"identifier must be 1-{MAX_NAME} characters, got {len(name)}")
    if "\x00" in name:
        raise BadIdentifier("identifier contains a NUL character")
    return "[" + name.replace("]", "]]") + "]"


def quote_string(value: str) -> str:
    """N'...' with quotes doubled - for the few places T-SQL takes no parameter (OBJECT_ID = '...')."""
    if "\x00" in value:
        raise BadIdentifier("string contains a NUL character")
    return "N'" + value.replace("'", "''") + "'"


def guid_literal(value: str) -> str:
    """A validated GUID as a quoted literal; anything that is not a GUID is refused."""
    guid = canonical_guid(value)
    if guid is None:
        raise BadIdentifier(f"'{value}' is not a GUID")
    return quote_string(guid)


def sid_literal(guid: str) -> str:
    """The SID as a varbinary literal (0x + the GUID's little-endian bytes); see identity.sid_hex."""
    return sid_hex(guid)


def create_user(spec: IdentitySpec) -> str:
    """CREATE USER for an Entra identity, in the one form its ids allow.

    sid_mode: WITH SID = <SID>, TYPE = E|X (no directory lookup by the server).
    object id known: FROM EXTERNAL PROVIDER WITH OBJECT_ID (disambiguates duplicate display names;
    the server still stores the right SID - the client id for apps).
    otherwise: FROM EXTERNAL PROVIDER (the server looks the display name up).
    """
    name = quote_name(spec.name)
    if spec.sid_mode:
        return f"CREATE USER {name} WITH SID = {sid_literal(spec.sid)}, TYPE = {spec.user_type}"
    if spec.object_id:
        return f"CREATE USER {name} FROM EXTERNAL PROVIDER WITH OBJECT_ID = {guid_literal(spec.object_id)}"
    return f"CREATE USER {name} FROM EXTERNAL PROVIDER"
