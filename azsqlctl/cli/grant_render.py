"""grant's human output: the plan as +/-/= lines and T-SQL, the per-database table, and the one question."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azsqlctl.core.grant.operation import AdminResult, Job, Outcome
    from azsqlctl.core.grant.operation import Progress as ApplyProgress
    from azsqlctl.core.grant.plan import Plan

    from .render import ErrorEntry, InterruptReport


def errors_of(outcome: Outcome) -> list[ErrorEntry]:
    """Every failed row as an error entry (message, hint, code, where), for stderr and the JSON envelope."""
    from azsqlctl.core.grant.operation import Status

    out: list[ErrorEntry] = []
    for r in outcome.results:
        if r.status is Status.FAILED:
            where = "" if len(outcome.results) == 1 else f"{r.database}: "
            details = {"server": r.server, "database": r.database, "retries": r.retries}
            out.append({"code": r.error_code, "message": where + r.error, "hint": r.hint, "details": details})
    return out


def render_plan(plan: Plan) -> None:
    from .render import console, shown

    con = console()
    con.print(f"[bold]Plan[/] for {shown(plan.identity or '(policy)')} in {shown(plan.database)} on {shown(plan.server)}")
    for step in plan.steps:
        color = "green" if step.sign == "+" else "red"
        con.print(f"  [{color}]{step.sign}[/] {shown(step.summary)}")
    for line in plan.unchanged:
        con.print(f"  [dim]= {shown(line)}[/]")
    for line in plan.drift:
        con.print(f"  [yellow]! drift:[/] {shown(line)}")
    if plan.steps:
        con.print("  T-SQL, one transaction:")
        for step in plan.steps:
            con.print(f"    {shown(step.sql)};")


def _admin_line(admin: AdminResult | None) -> None:
    if admin is None:
        return
    from .render import console, shown

    status = admin.status.value
    color = {"changed": "green", "planned": "yellow"}.get(status, "dim")
    console().print(f"[bold]Entra admin[/] ({shown(status)}): [{color}]{shown(admin.message)}[/]")


def confirm_plans(outcome: Outcome) -> bool:
    """Show every plan, then ask once."""
    import typer

    from azsqlctl.core.grant.operation import Status

    _admin_line(outcome.admin)
    for t in outcome.results:
        if t.plan and (t.plan.steps or t.plan.drift):
            render_plan(t.plan)
    pending = [t for t in outcome.results if t.status is Status.PLANNED]
    if len(outcome.results) > 1:
        _table(outcome)
    statements = sum(len(t.plan.steps) for t in pending if t.plan)
    what = [f"{statements} statement(s) to {len(pending)} database(s)"] if pending else []
    if outcome.admin and outcome.admin.status is Status.PLANNED:
        what.insert(0, "the Entra admin change")
    return typer.confirm(f"Apply {' and '.join(what)}?", default=False)


def _table(outcome: Outcome) -> None:
    from rich.table import Table

    from azsqlctl.core.grant.operation import Status

    from .render import console, shown

    table = Table(title=f"grant ({outcome.mode.value})", title_justify="left")
    for col in ("server", "database", "result", "changes", "why"):
        table.add_column(col)
    for t in outcome.results:
        steps = len(t.plan.steps) if t.plan else 0
        why = t.error or ("; ".join(t.plan.drift) if t.plan else "")
        why = "; ".join(w for w in (why, t.note if t.status is not Status.FAILED else "") if w)  # a failure says its retries
        table.add_row(shown(t.server), shown(t.database), shown(t.status.value), str(steps), shown(why))
    console().print(table)


def human(outcome: Outcome, *, plans_shown: bool, corrected_command: str = "") -> None:
    """``plans_shown``: the plans were shown before the question (--ask); ``corrected_command``: a single target's
    request as it should have named the identity."""
    from azsqlctl.core.grant.operation import Status

    from .render import console, shown

    con = console()
    if not plans_shown:
        _admin_line(outcome.admin)
    targets, mode = outcome.results, outcome.mode.value
    if len(targets) == 1:
        t = targets[0]
        if t.plan and not plans_shown:
            render_plan(t.plan)
        if t.status is Status.FAILED:
            return  # the error and its hint follow on stderr
        steps = len(t.plan.steps) if t.plan else 0
        verdict = {
            Status.CHANGED: f"[green]Applied {steps} statement(s) in one transaction.[/]",
            Status.UNCHANGED: "[green]No changes.[/]",
            Status.PLANNED: f"[yellow]Drift: {steps} change(s) pending.[/]"
            if mode == "check"
            else f"Not applied: {steps} statement(s)."
            if mode == "ask"
            else f"Dry run: {steps} statement(s) not applied.",
            Status.DRIFT: "[yellow]Drift: nothing was changed.[/]" if t.plan and t.plan.drift else f"[yellow]Drift:[/] {shown(t.error)}",
        }[t.status]
        if t.note:
            con.print(f"[dim]{shown(t.note)}[/]")
        con.print(verdict)
        if corrected_command:
            con.print(f"Corrected command:\n  {shown(corrected_command)}")
        return
    if targets:
        _table(outcome)
        con.print(", ".join(f"{n} {k}" for k, n in sorted(outcome.summary().items())))
    elif outcome.admin is None:
        con.print("Nothing to do.")


def interrupt_report(progress: ApplyProgress, jobs: list[Job]) -> InterruptReport:
    """What an interrupted grant had done, per database: applied (committed), rolled back, or untouched.

    Called on the main thread after Ctrl-C/SIGTERM; ``progress.stop()`` first makes sure nothing
    commits after this report is written (an open transaction is rolled back, or dies with the
    connection, which Azure SQL rolls back).
    """
    from azsqlctl.core.grant.operation import Phase

    from .render import InterruptReport

    phases = progress.stop()
    rows: list[dict[str, str]] = []
    for job in jobs:
        phase = phases.get((job.server, job.database), Phase.UNTOUCHED)
        rows.append({"server": job.server, "database": job.database, "status": phase.value})
    counts = {status: sum(1 for r in rows if r["status"] == status) for status in ("applied", "rolled back", "committing", "untouched")}
    lines = []
    for status in ("applied", "rolled back", "committing", "untouched"):
        names = [f"{r['database']} on {r['server']}" for r in rows if r["status"] == status]
        if names:
            shown = ", ".join(names[:20]) + (f", … ({len(names) - 20} more)" if len(names) > 20 else "")
            label = "unknown (the COMMIT was on the wire)" if status == "committing" else status
            lines.append(f"  {label}: {shown}")
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    if rows:
        lines.insert(0, f"Databases: {summary or 'none'}")
    return InterruptReport({"targets": rows, "summary": {k.replace(" ", "_"): v for k, v in counts.items()}}, lines)
