"""MkDocs hook: the CLI reference page is every command's ``--help``, rendered from the Typer app at build time.

A page holding the line ``<!-- cli-reference -->`` gets one section per command and sub-command, in the
order the app registers them, each the exact text ``azsqlctl … --help`` prints at 100 columns. Nothing in
the reference is written by hand, so a new option, command or help text shows up in the next build.

mkdocs-click cannot be used: Typer 0.28 vendors its own Click (``typer._click``), whose commands are not
``click.Command`` instances, and its Click rendering would not show Typer's panels and ``[env …]`` names.
"""

from __future__ import annotations

import re

MARKER = "<!-- cli-reference -->"
WIDTH = "100"


def _commands(command: object, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path under ``command``, parents first, in registration order."""
    sub = getattr(command, "commands", None)
    paths = [path]
    if isinstance(sub, dict):
        for name, child in sub.items():
            if not getattr(child, "hidden", False):
                paths += _commands(child, (*path, name))
    return paths


def render_reference() -> str:
    import typer.main
    from typer.testing import CliRunner

    from azsqlctl.cli.app import app

    runner = CliRunner()
    env = {"COLUMNS": WIDTH, "NO_COLOR": "1", "TERM": "dumb"}
    sections = []
    for path in _commands(typer.main.get_command(app)):
        result = runner.invoke(app, [*path, "--help"], env=env)
        if result.exit_code != 0:
            raise RuntimeError(f"azsqlctl {' '.join(path)} --help exited {result.exit_code}: {result.output[-500:]}")
        text = re.sub(r"[ \t]+$", "", result.stdout, flags=re.M).strip("\n")
        title = " ".join(("azsqlctl", *path))
        sections.append(f"## `{title}`\n\n```text\n$ {title} --help\n{text}\n```\n")
    return "\n".join(sections)


def on_page_markdown(markdown: str, page: object, config: object, files: object) -> str:
    """MkDocs' hook (its signature: the page, config and files are not needed here)."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, render_reference())
