"""grant's fleet glue: ``select`` targets resolved through Resource Graph, and ``--show-targets``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azsqlctl.core.grant.fleet import Fleet
    from azsqlctl.core.grant.operation import GrantPorts
    from azsqlctl.core.grant.policy import Policy

    from .render import Result


def warn_partial(fleet: Fleet) -> None:
    from .render import warn

    for line in fleet.partial:
        warn(line)


def show_targets(policy: Policy, fleet: Fleet | None, ports: GrantPorts, default_server: str) -> Result:
    """Every (server, database) the policy reaches and why, without touching a database (globs list master)."""
    from azsqlctl.core.errors import ExitCode
    from azsqlctl.core.grant.operation import expand_targets

    from .render import Result

    why: dict[tuple[str, str], str] = {}
    for m in fleet.matches if fleet is not None else []:
        why[(m.server.lower(), m.database.lower())] = f"target {m.target}: {m.why}"
    op = expand_targets(policy, ports, default_server)
    rows: list[dict[str, str]] = []
    for job in op.jobs:
        reason = why.get((job.server.lower(), job.database.lower()))
        if reason is None:
            target = next(
                (k for k, t in enumerate(policy.targets, 1) if t.select is None and (t.servers or [default_server]).count(job.server)), 0
            )
            reason = f"target {target}: named in the policy" if target else "resolved through Resource Graph"
        rows.append({"server": job.server, "database": job.database, "why": reason})
    failed = [{"server": r.server, "database": r.database, "error": r.error} for r in op.failed]
    data = {"targets": rows, "unmatched": failed, "partial": fleet.partial if fleet else [],
            "resource_graph": {"queries": fleet.queries, "pages": fleet.pages, "throttled": fleet.throttled} if fleet else None}  # fmt: skip
    code = ExitCode.NOT_FOUND if failed or (fleet is not None and fleet.empty) else ExitCode.OK
    return Result("grant", data, code, [], human=lambda _: _human(rows, failed, fleet))


def _human(rows: list[dict[str, str]], failed: list[dict[str, str]], fleet: Fleet | None) -> None:
    from rich.table import Table
    from rich.text import Text

    from azsqlctl.core.visible import visible

    from .render import console

    con = console()
    table = Table("server", "database", "why", box=None, header_style="bold")
    for row in rows:  # names and tags come from Azure: plain text, control characters visible
        table.add_row(Text(visible(row["server"])), Text(visible(row["database"])), Text(visible(row["why"])))
    con.print(table)
    for miss in failed:
        con.print(Text("✗ " + visible(f"{miss['server']} {miss['database']}: {miss['error']}"), style="red"))
    for line in fleet.partial if fleet else []:
        con.print(Text("partial: " + visible(line), style="yellow"))
    tail = ""
    if fleet:
        queries, pages, throttled = fleet.queries, fleet.pages, fleet.throttled
        tail = f" (Resource Graph: {queries} quer{'y' if queries == 1 else 'ies'}, {pages} page(s)"
        tail += f", {throttled} throttle wait(s))" if throttled else ")"
    con.print(f"{len(rows)} database(s){tail}")
