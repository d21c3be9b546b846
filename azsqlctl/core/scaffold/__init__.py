"""``azsqlctl scaffold``: typed inputs -> rendered files (with a header hash) -> a plan against what exists -> writes.

- :mod:`.inputs`  the options as a frozen, validated value
- :mod:`.render`  Jinja2 templates (package data in ``azsqlctl.templates``) -> deterministic bytes with a header
- :mod:`.plan`    each file against the disk: new / unchanged / outdated / edited, unified diffs, ``--check``, atomic writes
"""

from __future__ import annotations

from .inputs import Ci, Driver, ScaffoldInputs, Style
from .plan import FilePlan, FileStatus, ScaffoldPlan, apply, check_exit, make_plan, read_manifest, remove_stale_temps
from .render import Rendered, header_of, render

__all__ = [
    "Ci", "Driver", "FilePlan", "FileStatus", "Rendered", "ScaffoldInputs", "ScaffoldPlan", "Style",
    "apply", "check_exit", "header_of", "make_plan", "read_manifest", "remove_stale_temps", "render",
]  # fmt: skip
