"""grant's human output: the plan as +/-/= lines and T-SQL, and the per-database table."""

from __future__ import annotations

from typing import Any


def data(mode: str, targets: list[dict[str, Any]]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for t in targets:
        counts[t["status"]] = counts.get(t["status"], 0) + 1
    return {"mode": mode.replace("_", "-"), "targets": targets, "summary": counts}


def render_plan(plan: dict[str, Any]) -> None:
    from rich.markup import escape

    from .render import console

    con = console()
    con.print(f"[bold]Plan[/] for {escape(plan['identity'] or '(policy)')} in {escape(plan['database'])} on {escape(plan['server'])}")
    for step in plan["steps"]:
        color = "green" if step["sign"] == "+" else "red"
        con.print(f"  [{color}]{step['sign']}[/] {escape(step['summary'])}")
    for line in plan["unchanged"]:
        con.print(f"  [dim]= {escape(line)}[/]")
    for line in plan["drift"]:
        con.print(f"  [yellow]! drift:[/] {escape(line)}")
    if plan["steps"]:
        con.print("  T-SQL, one transaction:")
        for step in plan["steps"]:
            con.print(f"    {escape(step['sql'])};")


def human(data: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    from .render import console

    con = console()
    targets = data["targets"]
    if len(targets) == 1:
        t = targets[0]
        if t["plan"]:
            render_plan(t["plan"])
        steps = len(t["plan"]["steps"]) if t["plan"] else 0
        verdict = {
            "changed": f"[green]Applied {steps} statement(s) in one transaction.[/]",
            "unchanged": "[green]No changes.[/]",
            "planned": f"Dry run: {steps} statement(s) not applied."
            if data["mode"] != "check"
            else f"[yellow]Drift: {steps} change(s) pending.[/]",
            "drift": f"[yellow]Drift:[/] {escape(t['error'])}" if t["error"] else "[yellow]Drift.[/]",
            "failed": f"[red]Failed:[/] {escape(t['error'])}",
        }[t["status"]]
        con.print(verdict)
        return
    table = Table(title=f"grant --policy ({data['mode']})", title_justify="left")
    for col in ("server", "database", "result", "changes", "why"):
        table.add_column(col)
    for t in targets:
        steps = len(t["plan"]["steps"]) if t["plan"] else 0
        why = t["error"] or "; ".join(t["plan"]["drift"]) if t["plan"] else t["error"]
        table.add_row(t["server"], t["database"], t["status"], str(steps), escape(why or ""))
    con.print(table)
    con.print(", ".join(f"{n} {k}" for k, n in sorted(data["summary"].items())))
