"""One home per rule: each rule below has exactly one definition in the client (core, azure, cli)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "azsqlctl"
CLIENT = [p for part in ("core", "azure", "cli") for p in sorted((ROOT / part).rglob("*.py"))]


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
    assert definitions(r"split\(\";\"\)|split\(';'\)") == []  # no naive splitting: braced values hold ';'


def test_one_client_side_tds_framer() -> None:
    assert [d.split(":")[0] for d in definitions(r"def frame\(|HEADER\.pack\(")] == ["core/prelogin.py", "core/prelogin.py"]


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
