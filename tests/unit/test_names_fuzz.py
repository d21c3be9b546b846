"""Quoting holds for any name: statements built for >= 1,000 generated names parse back to exactly those names."""

from __future__ import annotations

import uuid

from hypothesis import assume, given, settings
from hypothesis import strategies as hst

from azsqlctl.core.grant.plan import IdentitySpec
from azsqlctl.core.roles import FIXED_ROLE_IDS
from azsqlctl.core.tsql import create_user, quote_name
from azsqlctl.sandbox.sql.engine import lexer
from azsqlctl.sandbox.sql.engine import principal_ddl as ddl
from azsqlctl.sandbox.state import Database, SandboxState, default_state
from tests.property_budget import examples

# Any character SQL Server allows in a delimited identifier, with the dangerous ones made likely.
NAMES = hst.text(
    alphabet=hst.one_of(hst.sampled_from(list("]['\";-- /*N0x")), hst.characters(codec="utf-8", exclude_characters="\x00")),
    min_size=1,
    max_size=128,
)


BUILT_IN = {*FIXED_ROLE_IDS, "dbo", "guest", "sys", "information_schema"}


def _state() -> SandboxState:
    state = default_state()
    state.server.databases = [Database("fuzz", schemas=["dbo"])]
    return state


@settings(max_examples=examples(1000), deadline=None)
@given(user=NAMES, role=NAMES, schema=NAMES)
def test_statements_stay_well_formed(user: str, role: str, schema: str) -> None:
    # Built-in principals (public, dbo, db_owner ...) exist already: refusing them (15023) is correct.
    assume(user.lower() not in BUILT_IN and role.lower() not in BUILT_IN)
    client_id = str(uuid.uuid4())
    spec = IdentitySpec(user, "app", client_id=client_id, sid_mode=True)
    batch = ";".join([
        create_user(spec),
        f"CREATE ROLE {quote_name(role)}",
        f"ALTER ROLE {quote_name(role)} ADD MEMBER {quote_name(user)}",
        f"GRANT SELECT, EXECUTE ON SCHEMA::{quote_name(schema)} TO {quote_name(role)}",
    ])  # fmt: skip
    statements = lexer.statements(batch)
    assert len(statements) == 4  # no name ever ends a statement early or merges two
    idents = [[t.text for t in stmt if t.kind == "ident"] for stmt in statements]
    assert idents == [[user], [role], [role, user], [schema, role]]

    # The sandbox executes them against a fresh database and stores exactly these names.
    state = _state()
    db = state.server.databases[0]
    db.schemas.append(schema) if schema.lower() != "dbo" else None
    for stmt in statements:
        if user.lower() == role.lower() and stmt[1].is_word("ROLE") and stmt[0].is_word("CREATE"):
            return  # a role cannot share the user's name (15023): correct refusal, nothing more to check
        ddl.execute(stmt, lambda: db, state, "dbo")
    assert db.users[0].name == user and db.users[0].sid == client_id
    assert db.roles == [role] and db.members[role] == [user]
    assert {(p.permission, p.target) for p in db.permissions} == {
        ("SELECT", db.schemas[-1] if schema.lower() != "dbo" else "dbo"),
        ("EXECUTE", db.schemas[-1] if schema.lower() != "dbo" else "dbo"),
    }
