"""CLI start-up: `azsqlctl --help` and `azsqlctl COMMAND --help` vs a bare Typer app of the same shape.

`python -m bench startup` (goals: `--help` <= 1.1x, each `COMMAND --help` <= 1.2x). The bare app is
generated from azsqlctl's own command tree into a temporary directory: the same command and group
names, and per command the same number of arguments and options, each with the same kind (flag or
value) and the same help text, so the two render the same amount of help through the same Typer and
rich. What the bare app lacks is everything else azsqlctl does before printing help: its package
imports, its settings table, its error handling and option declarations. Both run as whole processes
(`python -m azsqlctl` and `python bare.py`), alternating, so a busy moment on the machine hits both
alike; the figure is the ratio of medians, for wall time and for CPU time (the steadier one on a
shared machine).
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _params(command: object) -> list[tuple[str, bool, bool, str]]:
    """(name, is_argument, is_flag, help) of each of a command's parameters, --help left out."""
    out = []
    for param in getattr(command, "params", []):
        name = str(getattr(param, "name", "") or "")
        if name == "help":
            continue
        is_argument = type(param).__name__.endswith("Argument")
        out.append((name, is_argument, bool(getattr(param, "is_flag", False)), str(getattr(param, "help", "") or "")))
    return out


def _command_source(var: str, name: str, command: object, index: int) -> list[str]:
    args = []
    for i, (_, is_argument, is_flag, help_text) in enumerate(_params(command)):
        if is_argument:
            args.append(f"a{i}: Annotated[str, typer.Argument(help={help_text!r})] = ''")
        elif is_flag:
            args.append(f"o{i}: Annotated[bool, typer.Option('--o{i}', help={help_text!r})] = False")
        else:
            args.append(f"o{i}: Annotated[str, typer.Option('--o{i}', help={help_text!r})] = ''")
    doc = str(getattr(command, "help", "") or "")
    return [f"@{var}.command({name!r})", f"def c{index}({', '.join(args)}) -> None:", f"    {doc!r}", ""]


def bare_app_source() -> tuple[str, list[str]]:
    """The bare app's source, and azsqlctl's top-level command names (for the per-command runs)."""
    import typer.main

    from azsqlctl.cli.app import app

    root = typer.main.get_command(app)
    commands: dict[str, object] = getattr(root, "commands", {})
    lines = ["from typing import Annotated", "import typer", "app = typer.Typer(no_args_is_help=True)", ""]
    index = 0
    for name, command in commands.items():
        sub = getattr(command, "commands", None)
        if isinstance(sub, dict):  # a group (logs, sandbox): its own options and sub-commands
            var = f"g{index}"
            lines += [f"{var} = typer.Typer(help={str(getattr(command, 'help', '') or '')!r})", f"app.add_typer({var}, name={name!r})", ""]
            group_params = _params(command)
            if group_params:
                callback = _command_source(var, "", command, index)
                callback[0] = f"@{var}.callback(invoke_without_command=True)"
                lines += callback
                index += 1
            for sub_name, sub_command in sub.items():
                lines += _command_source(var, sub_name, sub_command, index)
                index += 1
        else:
            lines += _command_source("app", name, command, index)
            index += 1
    lines.append("app()")
    return "\n".join(lines) + "\n", list(commands)


def _once(cmd: list[str]) -> tuple[float, float]:
    """(wall ms, CPU ms) of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    wall = (time.perf_counter() - start) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"startup: {' '.join(cmd)} exited {proc.returncode}: {proc.stderr.decode()[-1000:]}")
    return wall, ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) * 1000


def compare(ours: list[str], bare: list[str], runs: int) -> tuple[float, float, float, float]:
    """Medians (ours wall, bare wall, ours CPU, bare CPU) in ms over ``runs`` alternating pairs."""
    _once(ours), _once(bare)  # warm the page cache and the bytecode cache for both
    mine, theirs = [], []
    for _ in range(runs):
        mine.append(_once(ours))
        theirs.append(_once(bare))
    return (
        statistics.median(w for w, _ in mine),
        statistics.median(w for w, _ in theirs),
        statistics.median(c for _, c in mine),
        statistics.median(c for _, c in theirs),
    )


def bench_startup(runs: int = 21) -> None:
    source, commands = bare_app_source()
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp) / "bare.py"
        bare.write_text(source, encoding="utf-8")
        for path, goal in [([], 1.1), *[([name], 1.2) for name in commands]]:
            ours_wall, bare_wall, ours_cpu, bare_cpu = compare(
                [sys.executable, "-m", "azsqlctl", *path, "--help"], [sys.executable, str(bare), *path, "--help"], runs
            )
            shown = " ".join(["azsqlctl", *path, "--help"])
            verdict = "met" if ours_wall / bare_wall <= goal else "NOT met"
            print(
                f"startup: {shown}: {ours_wall:.0f} ms vs bare Typer app {bare_wall:.0f} ms, {ours_wall / bare_wall:.2f}x "
                f"(goal <= {goal:.1f}x: {verdict}); CPU {ours_cpu:.0f} vs {bare_cpu:.0f} ms, {ours_cpu / bare_cpu:.2f}x; medians of {runs}"
            )
