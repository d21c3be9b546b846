"""``azsqlctl scaffold``: typed options -> ScaffoldInputs -> plan -> (dry run | check | write) -> one render."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from azsqlctl.core.scaffold.inputs import Ci, Driver, Style

from . import options as o

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
    from .runner import run

    given: dict[str, Any] = {
        "package": package, "driver": driver, "style": style, "use_async": use_async, "ci": ci, "server": server, "database": database,
    }  # fmt: skip

    def action(fmt: str) -> Any:
        from azsqlctl.core.errors import ExitCode, UsageError
        from azsqlctl.core.scaffold import ScaffoldInputs, apply, check_exit, make_plan, read_manifest, remove_stale_temps, render

        from .render import Result

        if dry_run and check:
            raise UsageError("--dry-run and --check do not go together", "use one of them", code="bad_combination")
        if force and check:
            raise UsageError("--check writes nothing, so --force does not go with it", "drop --force, or --check", code="bad_combination")
        target = Path(path).expanduser()
        recorded: dict[str, Any] = read_manifest(target) if target.is_dir() else {}
        inputs = ScaffoldInputs(**{**recorded, **{k: v for k, v in given.items() if v is not None}})
        plan = make_plan(target, inputs, render(inputs))
        if dry_run:
            return Result("scaffold", {**plan.as_dict(with_diff=True), "mode": "dry-run"}, human=_human_dry_run)
        # Temp files an interrupted or killed earlier run left beside these files: ours by name, their writer gone.
        removed = {"removed_temp_files": remove_stale_temps(plan)}
        if check:
            code = check_exit(plan)
            return Result("scaffold", {**plan.as_dict(), "mode": "check", **removed}, exit_code=code, human=_human_check)
        done = apply(plan, force)
        return Result("scaffold", {**done.as_dict(), "mode": "write", **removed}, exit_code=ExitCode.OK, human=_human_write)

    run("scaffold", output, debug, action)


def _files_table(data: dict[str, Any], only_changed: bool = False) -> None:
    from .render import console, shown

    con = console()
    marks = {"new": "[green]+[/]", "unchanged": "=", "outdated": "[yellow]~[/]", "edited": "[red]![/]"}
    for f in data["files"]:
        if only_changed and f["status"] == "unchanged":
            continue
        con.print(f"  {marks[f['status']]} {shown(f['path'])} ({f['status']})")


def _human_dry_run(data: dict[str, Any]) -> None:
    from .render import console, shown

    con = console()
    con.print(f"Scaffold into {shown(data['target'])} (dry run):")
    _files_table(data)
    for f in data["files"]:
        if f.get("diff"):
            con.print(f["diff"], markup=False, end="" if f["diff"].endswith("\n") else "\n")
    changed = sum(1 for f in data["files"] if f["status"] != "unchanged")
    con.print(f"Dry run: {changed} file(s) would be written.")


def _removed_temps(data: dict[str, Any]) -> None:
    from .render import console, shown

    for name in data.get("removed_temp_files", []):
        console().print(f"  removed {shown(name)} (a temp file an interrupted run left)")


def _human_check(data: dict[str, Any]) -> None:
    from .render import console

    con = console()
    _removed_temps(data)
    stale = [f for f in data["files"] if f["status"] != "unchanged"]
    if not stale:
        con.print(f"All {len(data['files'])} generated file(s) match the templates.")
        return
    _files_table(data, only_changed=True)
    con.print(f"{len(stale)} file(s) missing, edited by hand or behind the templates (new = missing, ! = edited, ~ = outdated).")


def _human_write(data: dict[str, Any]) -> None:
    from .render import console, shown

    con = console()
    _removed_temps(data)
    written = set(data["written"])
    for f in data["files"]:
        if f["path"] in written:
            con.print(f"  [green]wrote[/] {shown(f['path'])}")
    unchanged = len(data["files"]) - len(written)
    con.print(f"Wrote {len(written)} file(s){f', {unchanged} unchanged' if unchanged else ''}.")
    wiring = next((f["path"] for f in data["files"] if f["path"].endswith("WIRING.md")), "")
    if written and wiring:
        con.print(f"Next: wire it in as {shown(wiring)} shows (app.include_router via install(), lifespan).")
