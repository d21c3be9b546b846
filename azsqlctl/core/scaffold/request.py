"""What `azsqlctl scaffold` was asked, and what it did: one frozen request in, one typed result out.

The rules: --dry-run, --check and --force combine only as documented; options left out come from the
manifest of the last run (``azsqlctl-scaffold.toml``); temp files a killed run left are removed before a
check or a write.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from ..errors import ExitCode, UsageError
from .inputs import Ci, Driver, ScaffoldInputs, Style
from .plan import ScaffoldPlan, apply, check_exit, make_plan, read_manifest, remove_stale_temps
from .render import render


class Mode(StrEnum):
    DRY_RUN = "dry-run"
    CHECK = "check"
    WRITE = "write"


@dataclass(frozen=True)
class ScaffoldRequest:
    path: Path
    package: str | None = None  # None: the manifest's, else the default
    driver: Driver | None = None
    style: Style | None = None
    use_async: bool | None = None
    ci: Ci | None = None
    server: str | None = None
    database: str | None = None
    dry_run: bool = False
    force: bool = False
    check: bool = False

    @property
    def mode(self) -> Mode:
        return Mode.DRY_RUN if self.dry_run else Mode.CHECK if self.check else Mode.WRITE


@dataclass(frozen=True)
class ScaffoldResult:
    mode: Mode
    plan: ScaffoldPlan  # after a write: what was written (``plan.written``)
    removed_temp_files: tuple[str, ...] = ()
    exit_code: ExitCode = ExitCode.OK

    def as_dict(self) -> dict[str, object]:
        data = {**self.plan.as_dict(with_diff=self.mode == Mode.DRY_RUN), "mode": self.mode.value}
        if self.mode != Mode.DRY_RUN:
            data["removed_temp_files"] = list(self.removed_temp_files)
        return data


def inputs_for(request: ScaffoldRequest) -> ScaffoldInputs:
    """The options given, over those the last run recorded, over the defaults."""
    target = request.path.expanduser()
    recorded: dict[str, object] = read_manifest(target) if target.is_dir() else {}
    given = {
        "package": request.package, "driver": request.driver, "style": request.style, "use_async": request.use_async,
        "ci": request.ci, "server": request.server, "database": request.database,
    }  # fmt: skip
    merged = {**recorded, **{k: v for k, v in given.items() if v is not None}}
    default = ScaffoldInputs()

    def text(name: str) -> str:
        return str(merged.get(name, getattr(default, name)))

    return ScaffoldInputs(
        package=text("package"), driver=Driver(text("driver")), style=Style(text("style")),
        use_async=merged.get("use_async", default.use_async) is True, ci=Ci(text("ci")), server=text("server"),
        database=text("database"),
    )  # fmt: skip


def scaffold(request: ScaffoldRequest) -> ScaffoldResult:
    if request.dry_run and request.check:
        raise UsageError("--dry-run and --check do not go together", "use one of them", code="bad_combination")
    if request.force and request.check:
        raise UsageError("--check writes nothing, so --force does not go with it", "drop --force, or --check", code="bad_combination")
    inputs = inputs_for(request)
    plan = make_plan(request.path.expanduser(), inputs, render(inputs))
    if request.mode == Mode.DRY_RUN:
        return ScaffoldResult(Mode.DRY_RUN, plan)
    # Temp files an interrupted or killed earlier run left beside these files: ours by name, their writer gone.
    removed = tuple(remove_stale_temps(plan))
    if request.mode == Mode.CHECK:
        return ScaffoldResult(Mode.CHECK, plan, removed, check_exit(plan))
    return ScaffoldResult(Mode.WRITE, apply(plan, request.force), removed)
