"""Rendered files against what exists: statuses, unified diffs, ``--check``, and atomic writes."""

from __future__ import annotations

import difflib
import os
import tomllib
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from azsqlctl.atomic_file import remove_stale_temp_files, write_atomic
from azsqlctl.core.errors import AzsqlctlError, ExitCode, UsageError

from .inputs import Ci, Driver, ScaffoldInputs, Style
from .render import Rendered, body_hash, header_of, split_header

__all__ = [
    "MANIFEST", "FilePlan", "FileStatus", "ScaffoldPlan", "WouldOverwrite", "apply", "check_exit", "make_plan", "read_manifest",
    "remove_stale_temps",
]  # fmt: skip

MANIFEST = "azsqlctl-scaffold.toml"


class FileStatus(StrEnum):
    NEW = "new"  # does not exist yet
    UNCHANGED = "unchanged"  # same content as a fresh render
    OUTDATED = "outdated"  # generated, not edited, but behind the current templates/options
    EDITED = "edited"  # its header hash no longer matches its content (or it has no header)


@dataclass(frozen=True)
class FilePlan:
    path: str
    status: FileStatus
    rendered: Rendered
    existing: bytes | None
    diff: str  # unified diff existing -> rendered ("" when unchanged)

    def as_dict(self, with_diff: bool) -> dict[str, str | int]:
        out: dict[str, str | int] = {"path": self.path, "status": self.status.value, "bytes": len(self.rendered.content)}
        if with_diff:
            out["diff"] = self.diff
        return out


@dataclass(frozen=True)
class ScaffoldPlan:
    target: Path
    inputs: ScaffoldInputs
    files: list[FilePlan]
    written: list[str] = field(default_factory=list)

    def by_status(self, *statuses: FileStatus) -> list[FilePlan]:
        return [f for f in self.files if f.status in statuses]

    @property
    def conflicts(self) -> list[FilePlan]:
        return self.by_status(FileStatus.OUTDATED, FileStatus.EDITED)

    def as_dict(self, with_diff: bool = False) -> dict[str, object]:
        return {
            "target": str(self.target),
            "inputs": self.inputs.as_dict(),
            "files": [f.as_dict(with_diff) for f in self.files],
            "written": list(self.written),
        }


class WouldOverwrite(AzsqlctlError):
    exit_code = ExitCode.CHECK_FAILED
    code = "would_overwrite"


def check_target(target: Path) -> None:
    """A target that is a file, or a directory that cannot be written, is refused before anything is rendered."""
    if target.exists() and not target.is_dir():
        raise UsageError(
            f"{target} is a file, not a directory", "pass the project's directory (or a new one) as PATH", code="target_is_file"
        )
    probe = target
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise UsageError(
            f"{probe} is a file, not a directory", "pass the project's directory (or a new one) as PATH", code="target_is_file"
        )
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(
            f"cannot write to {probe}: permission denied",
            "pick a directory you can write to, or fix its permissions",
            code="target_unwritable",
        )


def _diff(path: str, old: bytes | None, new: bytes) -> str:
    a = (old or b"").decode("utf-8", "replace").splitlines(keepends=True)
    b = new.decode("utf-8", "replace").splitlines(keepends=True)
    return "".join(difflib.unified_diff(a, b, f"a/{path}" if old is not None else "/dev/null", f"b/{path}"))


def _status(existing: bytes | None, rendered: Rendered) -> FileStatus:
    if existing is None:
        return FileStatus.NEW
    header, body = split_header(existing)
    got = header_of(existing)
    if header is None or got is None or got[1] != body_hash(body):
        return FileStatus.EDITED
    return FileStatus.UNCHANGED if body == rendered.body else FileStatus.OUTDATED


def make_plan(target: Path, inputs: ScaffoldInputs, rendered: list[Rendered]) -> ScaffoldPlan:
    check_target(target)
    files = []
    for r in rendered:
        path = target / r.path
        try:
            existing: bytes | None = path.read_bytes()
        except FileNotFoundError:
            existing = None
        except IsADirectoryError:
            raise UsageError(
                f"{path} is a directory where scaffold writes a file", "move it away or pick another --package", code="target_is_dir"
            ) from None
        status = _status(existing, r)
        files.append(FilePlan(r.path, status, r, existing, "" if status is FileStatus.UNCHANGED else _diff(r.path, existing, r.content)))
    return ScaffoldPlan(target, inputs, files)


def check_exit(plan: ScaffoldPlan) -> ExitCode:
    """``--check``: 1 when a file is missing, edited by hand or behind the templates; 0 otherwise."""
    return ExitCode.OK if all(f.status is FileStatus.UNCHANGED for f in plan.files) else ExitCode.CHECK_FAILED


def _atomic_write(path: Path, content: bytes) -> None:
    write_atomic(path, content, fsync=True)


def apply(plan: ScaffoldPlan, force: bool) -> ScaffoldPlan:
    """Write new files (and, with ``force``, outdated and edited ones); nothing at all when a conflict is refused."""
    if plan.conflicts and not force:
        names = ", ".join(f"{f.path} ({f.status.value})" for f in plan.conflicts)
        raise WouldOverwrite(
            f"{len(plan.conflicts)} file(s) exist and differ from what scaffold would write: {names}",
            "see the changes with --dry-run; overwrite them with --force",
            details={"files": [f.path for f in plan.conflicts]},
        )
    written = []
    try:
        for f in plan.files:
            if f.status is not FileStatus.UNCHANGED:
                _atomic_write(plan.target / f.path, f.rendered.content)
                written.append(f.path)
    except OSError as exc:
        raise UsageError(
            f"cannot write {exc.filename or plan.target}: {exc.strerror or exc}",
            "pick a directory you can write to, or fix its permissions",
            code="target_unwritable",
        ) from None
    return ScaffoldPlan(plan.target, plan.inputs, plan.files, written)


def remove_stale_temps(plan: ScaffoldPlan) -> list[str]:
    """Temp files an interrupted or killed earlier run left beside the files this run owns (their writer is gone).

    Only names ``atomic_file`` gives (``.NAME.azsqlctl-tmp.PID.RANDOM``) beside a file scaffold writes
    are considered, and only when that pid no longer runs: another live run's temp file is left alone.
    """
    removed = remove_stale_temp_files([plan.target / f.path for f in plan.files])
    return [str(p.relative_to(plan.target)) for p in removed]


def read_manifest(target: Path) -> dict[str, object]:
    """The options a previous run recorded in azsqlctl-scaffold.toml ({} when there is none)."""
    path = target / MANIFEST
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(
            f"{path} is not readable TOML: {exc}", "fix or delete it, then pass the options again", code="bad_manifest"
        ) from None
    got = data.get("scaffold", {})
    out: dict[str, object] = {}
    enums: dict[str, type[Driver] | type[Style] | type[Ci]] = {"driver": Driver, "style": Style, "ci": Ci}
    for key, value in got.items() if isinstance(got, dict) else ():
        wanted: type[object] = bool if key == "use_async" else str
        if key not in ("package", "driver", "style", "use_async", "ci", "server", "database") or not isinstance(value, wanted):
            raise UsageError(f"{path}: {key} = {value!r} is not a scaffold option", "fix or delete the file", code="bad_manifest")
        try:
            out[key] = enums[key](str(value)) if key in enums else value
        except ValueError:
            raise UsageError(f"{path}: {key} = {value!r} is not valid", "fix or delete the file", code="bad_manifest") from None
    return out
