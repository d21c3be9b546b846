"""One home per rule: each rule below has exactly one definition in the client (core, azure, cli)."""

from __future__ import annotations

import functools
import re
import uuid
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from azsqlctl.core import jwt
from azsqlctl.core.identity import Kind, identity_from_claims, sid_bytes, sid_guid, sid_hex, sid_of
from azsqlctl.sandbox import state as sst
from azsqlctl.sandbox.entra.tokens import Issuer

ROOT = Path(__file__).resolve().parents[2] / "azsqlctl"
TENANT = str(uuid.uuid4())
CLIENT = [p for part in ("core", "azure", "cli") for p in sorted((ROOT / part).rglob("*.py"))]


@functools.cache
def _issuer(material: Path) -> Issuer:
    """The session's signing key (RSA keygen is slow: the material_dir fixture makes it once per run)."""
    return Issuer.load_or_create(material / "signing-key.pem")


def definitions(pattern: str) -> list[str]:
    found = []
    for path in CLIENT:
        for line in path.read_text(encoding="utf-8").splitlines():
            if re.search(pattern, line):
                found.append(f"{path.relative_to(ROOT)}: {line.strip()}")
    return found


def test_one_is_ip() -> None:
    assert definitions(r"def _?is_ip\(") == ["core/netaddr.py: def is_ip(text: str) -> bool:"]


def test_one_connection_string_parser() -> None:
    assert [d.split(":")[0] for d in definitions(r"def parse\(conn_str")] == ["core/connstr.py"]
    # no naive splitting: braced values hold ';' (a login failure's cause text is no connection string)
    assert definitions(r"(?<!\.cause)\.split\(\";\"\)|(?<!\.cause)\.split\(';'\)") == []


def test_one_tds_framer_for_both_sides() -> None:
    """The client's probe and the sandbox's server frame and read packets through protocol/tds.py."""
    found = [
        str(p.relative_to(ROOT))
        for p in sorted(ROOT.rglob("*.py"))
        for line in p.read_text(encoding="utf-8").splitlines()
        if re.search(r"def frames?\(|HEADER\.(un)?pack\(|struct\.Struct\(\">BBHHBB\"\)", line)
    ]
    assert found == ["protocol/tds.py"] * 5


def test_one_precedence_rule_and_one_settings_table() -> None:
    assert [d.split(":")[0] for d in definitions(r"^def resolve\($")] == ["core/config.py"]
    from azsqlctl.core.config import SETTINGS

    envs = [s.env for s in SETTINGS]
    assert len(envs) == len(set(envs)) and all(e.startswith("AZSQLCTL_") for e in envs)


def test_one_ip_range_rule() -> None:
    assert [d.split(":")[0] for d in definitions(r"def _?covers\(")] == ["core/netaddr.py"]


def test_no_six_line_block_is_repeated_between_modules() -> None:
    """Shared option declarations (``server: o.Server = None``) are the one allowed repetition: Typer reads signatures."""
    import collections

    skip = re.compile(r"^(import |from |#|\"\"\"|[)\]}],?$|try:$|else:$|finally:$|pass$|return None$|\w+: o\.\w+ = )")
    blocks: dict[tuple[str, ...], set[str]] = collections.defaultdict(set)
    for path in CLIENT:
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        lines = [line for line in lines if line and not skip.match(line)]
        for i in range(len(lines) - 5):
            blocks[tuple(lines[i : i + 6])].add(str(path.relative_to(ROOT)))
    repeated = {block[0]: sorted(where) for block, where in blocks.items() if len(where) > 1}
    assert repeated == {}


def test_one_sid_rule_and_one_create_user_renderer() -> None:
    """SID = client id for apps, else object id; SID hex; CREATE USER text: identity.py and tsql.py only."""
    assert [d.split(":")[0] for d in definitions(r"client_id if .*kind|kind .*else .*object_id")] == ["core/identity.py"]
    assert [d.split(":")[0] for d in definitions(r"bytes_le")] == ["core/identity.py", "core/identity.py"]
    assert [d.split(":")[0] for d in definitions(r"\"0x\" \+|'0x' \+|\.hex\(\)\.upper\(\)")] == ["core/identity.py"]
    assert [d.split(":")[0] for d in definitions(r"f\"CREATE USER ")] == ["core/tsql.py"] * 3
    assert [d.split(":")[0] for d in definitions(r"\"client id\" if|'client id' if")] == ["core/identity.py"]


GUIDS = st.uuids().map(str)


@given(kind=st.sampled_from(["managed_identity", "service_principal", "user", "group"]), client_id=GUIDS, object_id=GUIDS)
def test_the_sandbox_and_the_client_agree_on_every_sid(material_dir: Path, kind: sst.IdentityKind, client_id: str, object_id: str) -> None:
    """The sandbox plays Azure with its own model; its SID must be the one core/identity derives, from the token too."""
    ident = sst.Identity("x", kind, object_id, client_id if kind in ("managed_identity", "service_principal") else "")
    core_kind = Kind.APP if kind in ("managed_identity", "service_principal") else Kind(kind)
    assert ident.sid_guid == sid_of(core_kind, ident.client_id, ident.object_id)
    if kind != "group":  # groups sign in through their members' tokens
        token = _issuer(material_dir).issue(ident, "https://database.windows.net/", TENANT, 3600)
        from_token = identity_from_claims(jwt.claims(token))
        assert (from_token.sid, from_token.sid_hex) == (ident.sid_guid, sid_hex(ident.sid_guid))
        assert sid_guid(sid_bytes(from_token.sid)) == ident.sid_guid


def test_one_elevated_list() -> None:
    """grant refuses, and whoami/doctor flag, from the one list in core/roles.py (they disagreed: CONTROL vs db_ddladmin)."""
    from azsqlctl.core.effective_access import least_privilege_warnings
    from azsqlctl.core.grant.plan import CI_ONLY, ELEVATED
    from azsqlctl.core.roles import CI_ONLY_ROLES, ELEVATED_ROLES

    assert set(ELEVATED) == ELEVATED_ROLES | {"CONTROL"} and set(CI_ONLY) == CI_ONLY_ROLES | {"migrator"}
    flagged = {r for r in (*ELEVATED_ROLES, *CI_ONLY_ROLES, "db_datareader") if least_privilege_warnings([r], [])}
    assert flagged == ELEVATED_ROLES | CI_ONLY_ROLES
    assert [d.split(":")[0] for d in definitions(r"^(ELEVATED_ROLES|CI_ONLY_ROLES) =")] == ["core/roles.py", "core/roles.py"]


def test_one_output_sanitiser_one_redactor_and_one_transport_table() -> None:
    """Issue 15: control characters are made visible in one place, secrets hidden in one, transport failures mapped in one."""
    assert [d.split(":")[0] for d in definitions(r"^def visible\(")] == ["core/visible.py"]
    assert [d.split(":")[0] for d in definitions(r"^def redact\(")] == ["core/redact.py"]
    assert [d.split(":")[0] for d in definitions(r"^def transport_failure\(")] == ["core/transport.py"]
    # no renderer escapes rich markup on its own (that would skip the control characters): render.shown does both
    assert [d.split(":")[0] for d in definitions(r"from rich\.markup import escape")] == ["cli/render.py"]
