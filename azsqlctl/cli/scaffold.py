"""``azsqlctl scaffold``: typed options -> ScaffoldRequest -> core.scaffold.request.scaffold -> ScaffoldResult -> one render."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from azsqlctl.core.scaffold.inputs import Ci, Driver, Style

from . import options as o

if TYPE_CHECKING:
    from azsqlctl.core.scaffold.plan import ScaffoldPlan
    from azsqlctl.core.scaffold.request import ScaffoldRequest, ScaffoldResult

    from .render import Result

GEN = "Generation"
WRITE = "Writing"


def scaffold_command(
    path: Annotated[
        str, typer.Argument(metavar="PATH", help="The FastAPI project's directory (created when missing)", click_type=o.PLAIN)
    ] = ".",
    package: Annotated[
        str | None,
        typer.Option(
            "--package", metavar="MODULE", help="Dotted module path of the generated package (default app.db)", rich_help_panel=GEN
        ),
    ] = None,
    driver: Annotated[
        Driver | None, typer.Option("--driver", metavar="DRIVER", help="pyodbc or mssql-python (default pyodbc)", rich_help_panel=GEN)
    ] = None,
    style: Annotated[
        Style | None,
        typer.Option(
            "--style", metavar="STYLE", help="plain (connection cache) or sqlalchemy (Engine) (default plain)", rich_help_panel=GEN
        ),
    ] = None,
    use_async: Annotated[
        bool | None,
        typer.Option("--async/--sync", help="async endpoints (sqlalchemy: mssql+aioodbc) (default sync)", rich_help_panel=GEN),
    ] = None,
    ci: Annotated[
        Ci | None, typer.Option("--ci", metavar="CI", help="github, azure-pipelines or none (default github)", rich_help_panel=GEN)
    ] = None,
    server: Annotated[
        str | None, typer.Option("--server", "-S", metavar="SERVER", help="Default for AZSQL_SERVER in the settings", rich_help_panel=GEN)
    ] = None,
    database: Annotated[
        str | None, typer.Option("--database", "-d", metavar="NAME", help="Default for AZSQL_DATABASE in the settings", rich_help_panel=GEN)
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the files and a unified diff; write nothing", rich_help_panel=WRITE)
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite files that differ (edited or outdated)", rich_help_panel=WRITE)] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 when a file is missing, edited by hand or behind the templates", rich_help_panel=WRITE)
    ] = False,
    output: o.Output = None,
    debug: o.Debug = False,
) -> None:
    """Generate the FastAPI <-> Azure SQL connection module, its tests and a CI workflow.

    Options left out are read from azsqlctl-scaffold.toml, which records those of the last run.
    """
    from azsqlctl.core.scaffold.request import ScaffoldRequest

    from .runner import run

    request = ScaffoldRequest(
        Path(path), package=package, driver=driver, style=style, use_async=use_async, ci=ci, server=server, database=database,
        dry_run=dry_run, force=force, check=check,
    )  # fmt: skip
    run("scaffold", output, debug, lambda fmt: _run(request))


def _run(request: ScaffoldRequest) -> Result:
    from azsqlctl.core.scaffold.request import scaffold

    from .render import Result

    result = scaffold(request)
    return Result("scaffold", result.as_dict(), exit_code=result.exit_code, human=lambda _: _human(result))


def _human(result: ScaffoldResult) -> None:
    from azsqlctl.core.scaffold.request import Mode

    {Mode.DRY_RUN: _human_dry_run, Mode.CHECK: _human_check, Mode.WRITE: _human_write}[result.mode](result)


def _files_table(plan: ScaffoldPlan, only_changed: bool = False) -> None:
    from .render import console, shown

    con = console()
    marks = {"new": "[green]+[/]", "unchanged": "=", "outdated": "[yellow]~[/]", "edited": "[red]![/]"}
    for f in plan.files:
        if only_changed and f.status == "unchanged":
            continue
        con.print(f"  {marks[f.status]} {shown(f.path)} ({f.status.value})")


def _human_dry_run(result: ScaffoldResult) -> None:
    from .render import console, shown

    con, plan = console(), result.plan
    con.print(f"Scaffold into {shown(plan.target)} (dry run):")
    _files_table(plan)
    for f in plan.files:
        if f.diff:
            con.print(f.diff, markup=False, end="" if f.diff.endswith("\n") else "\n")
    changed = sum(1 for f in plan.files if f.status != "unchanged")
    con.print(f"Dry run: {changed} file(s) would be written.")


def _removed_temps(result: ScaffoldResult) -> None:
    from .render import console, shown

    for name in result.removed_temp_files:
        console().print(f"  removed {shown(name)} (a temp file an interrupted run left)")


def _human_check(result: ScaffoldResult) -> None:
    from .render import console

    con, plan = console(), result.plan
    _removed_temps(result)
    stale = [f for f in plan.files if f.status != "unchanged"]
    if not stale:
        con.print(f"All {len(plan.files)} generated file(s) match the templates.")
        return
    _files_table(plan, only_changed=True)
    con.print(f"{len(stale)} file(s) missing, edited by hand or behind the templates (new = missing, ! = edited, ~ = outdated).")


def _human_write(result: ScaffoldResult) -> None:
    from .render import console, shown

    con, plan = console(), result.plan
    _removed_temps(result)
    written = set(plan.written)
    for f in plan.files:
        if f.path in written:
            con.print(f"  [green]wrote[/] {shown(f.path)}")
    unchanged = len(plan.files) - len(written)
    con.print(f"Wrote {len(written)} file(s){f', {unchanged} unchanged' if unchanged else ''}.")
    wiring = next((f.path for f in plan.files if f.path.endswith("WIRING.md")), "")
    if written and wiring:
        con.print(f"Next: wire it in as {shown(wiring)} shows (app.include_router via install(), lifespan).")
