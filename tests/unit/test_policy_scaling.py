"""Policy parsing is linear in the number of identities: counted work, never timed.

The parser once looked for every identity's header by rescanning the whole file (1,000 identities
1.8 s, 4,000 25 s). Here the lines read are counted at N and 4N identities: linear work grows ~4x,
the old rescan 16x. Error positions (the reason lines are read at all) must still be exact.
"""

from __future__ import annotations

import tomllib

from azsqlctl.core.grant.operation import expand_targets
from azsqlctl.core.grant.policy import Lines, parse_policy
from bench.policy import policy_text


def _lines_read(identities: int) -> int:
    text = policy_text(identities)
    lines = Lines(text)
    policy, errors = parse_policy(tomllib.loads(text), lines, allow_elevated=False)
    assert errors == [] and len(policy.identities) == identities
    return lines.scanned


def test_lines_read_grow_linearly_with_identities() -> None:
    small, big = _lines_read(300), _lines_read(1200)
    assert big <= 4.2 * small, (small, big)  # a per-identity rescan of the file would read ~16x as many


def test_errors_still_name_their_lines_after_indexing() -> None:
    text = (
        "version = 1\n"
        '[identities.a]\ntype = "app"\nclient_id = "not-a-guid"\n'
        '[identities.b]\ntype = "robot"\nclient_id = "6f1d7c2e-3a4b-4c5d-8e9f-0a1b2c3d4e5f"\n'
        '[[targets]]\ndatabases = ["appdb"]\ngrants = { a = ["reader"] }\n'
        '[[targets]]\ndatabases = ["appdb"]\ngrnats = { b = ["reader"] }\n'
    )
    _policy, errors = parse_policy(tomllib.loads(text), Lines(text), allow_elevated=False)
    by_line = {line: message for line, message in errors}
    assert "client id 'not-a-guid' is not a GUID" in by_line[4]
    assert "type must be app, user or group" in by_line[6]
    assert "unknown key grnats" in by_line[13]


class _NoDatabases:
    def databases(self, server: str) -> list[str]:
        raise AssertionError("literal database names need no listing")

    def session(self, server: str, database: str) -> object:
        raise AssertionError("expanding targets opens no session")


def test_one_target_granting_many_identities_expands_to_one_job_with_each_once() -> None:
    text = policy_text(2000)
    policy, errors = parse_policy(tomllib.loads(text), Lines(text), allow_elevated=False)
    assert errors == []
    op = expand_targets(policy, _NoDatabases(), "localhost,1433")  # type: ignore[arg-type]
    assert len(op.jobs) == 1
    assert [a.identity.name for a in op.jobs[0].request.assignments] == sorted(policy.identities)
