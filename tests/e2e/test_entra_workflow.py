"""The generated GitHub workflow's drift and migrate jobs, run against the sandbox.

Each job's `run:` commands execute in order (install steps and actions aside: the test environment has
azsqlctl and the driver), in a shell with the environment GitHub gives the job: the job's `env:` with
`vars.*` filled in, and the runner's OIDC variables for the job's subject (`sandbox run --as
github:ORG/REPO:environment:NAME`). The checker passes `grant --check` and `doctor`, the migrator applies
the migration, the app's identity cannot (262), and a pull-request job without the environment gets
AADSTS700213 with doctor's fix.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from azsqlctl.core.scaffold import Ci, ScaffoldInputs, render
from tests import cli_fork
from tests.conftest import driver_path

pytestmark = [
    pytest.mark.sandbox_keys,  # CLI sandboxes over --state in tmp_path: the session's keys (tests/conftest.py)
    pytest.mark.usefixtures("cli_fork"),  # many `python -m azsqlctl` processes: tests/cli_fork.py
]
CLI = cli_fork.COMMAND
GITHUB = "https://token.actions.githubusercontent.com"
REPO = "contoso/shop"
MIGRATE_SH = """#!/bin/sh
# The project's migration (the workflow runs ./scripts/migrate.sh): DDL through the generated db module.
set -e
# The db module's settings (AZSQL_*): the server and database the job's AZSQLCTL_* name.
export AZSQL_SERVER="${AZSQL_SERVER:-$AZSQLCTL_SERVER}" AZSQL_DATABASE="${AZSQL_DATABASE:-$AZSQLCTL_DATABASE}"
exec python - <<'PY'
from shop.db.connection import Database
from shop.db.settings import DbSettings

database = Database(DbSettings.from_env())
with database.session() as session:
    session.execute("CREATE TABLE app.orders (id int PRIMARY KEY, total decimal(10, 2) NOT NULL)")
print("migrated")
PY
"""


def job_steps(workflow: str, job: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """(env, [(step name, run script)]) of one job in the generated workflow (its fixed layout, no YAML library)."""
    block = workflow[workflow.index(f"\n  {job}:\n") :]
    following = re.search(r"\n  [a-z]+:\n", block[5:])
    block = block[: following.start() + 5] if following else block
    env = dict(re.findall(r"^      ([A-Z_]+): (.+)$", block[block.index("    env:") : block.index("    steps:")], re.M))
    steps = []
    for step in re.split(r"\n      - ", block[block.index("    steps:") :])[1:]:
        name = re.search(r"name: (.+)", step)
        run = re.search(r"run: \|\n((?:          .*\n?)+)|run: (.+)", step)
        if run:
            script = run[1] if run[1] else run[2]
            steps.append((name[1] if name else "", "\n".join(line[10:] if run[1] else line for line in script.splitlines())))
    return env, steps


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "IDENTITY_", "MSI_", "IMDS_", "AZSQLCTL_", "ACTIONS_"))}
    return env | {"XDG_DATA_HOME": str(tmp_path / "xdg"), "AZSQL_ODBC_DRIVER": driver_path()}


def cli(tmp_path: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=180, env=_env(tmp_path), cwd=cwd or tmp_path)


def federated_apps(tmp_path: Path, project: Path, state: Path, issuer: str, subjects: dict[str, str]) -> tuple[dict[str, str], str, str]:
    """The CI apps a generated workflow or pipeline logs in as: each created with a federated credential trusting
    ``subjects[app]`` from ``issuer``, granted by a policy (first app reader, second migrator) applied in the sandbox.
    Returns the apps' client ids, the tenant and the app identity's (orders-api) client id."""
    ids = {}
    for app, subject in subjects.items():
        created = cli(tmp_path, "sandbox", "app", "create", app, "--state", str(state), "-o", "json")
        ids[app] = json.loads(created.stdout)["data"]["client_id"]
        fic = cli(tmp_path, "sandbox", "app", "add-federated-credential", app, "--name", "ci-job", "--issuer", issuer,
                  "--subject", subject, "--state", str(state))  # fmt: skip
        assert fic.returncode == 0, fic.stderr
    tenant = json.loads(cli(tmp_path, "sandbox", "app", "list", "--state", str(state), "-o", "json").stdout)["data"][0]["tenant_id"]
    app_client = next(i["client_id"] for i in json.loads(state.read_text())["identities"] if i["name"] == "orders-api")
    checker, migrator = subjects
    (project / "access.toml").write_text(
        "version = 1\n"
        f'[identities.{checker}]\ntype = "app"\nclient_id = "{ids[checker]}"\n'
        f'[identities.{migrator}]\ntype = "app"\nclient_id = "{ids[migrator]}"\n'
        f'[[targets]]\ndatabases = ["appdb"]\ngrants = {{ {checker} = ["reader"], {migrator} = ["migrator"] }}\n'
    )
    setup = cli(tmp_path, "sandbox", "run", "--state", str(state), "--", *CLI, "grant", "--policy", "access.toml", "--apply", cwd=project)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    return ids, tenant, app_client


def run_job(tmp_path: Path, project: Path, state: Path, workflow: str, job: str, subject_spec: str, variables: dict[str, str],
            skip: tuple[str, ...] = ("install",)) -> list[subprocess.CompletedProcess[str]]:  # fmt: skip
    """Run a job's commands in order under `sandbox run --as`; stops at the first failing step, as Actions does."""
    job_env, steps = job_steps(workflow, job)
    exports = {k: re.sub(r"\$\{\{ vars\.(\w+) \}\}", lambda m: variables[m[1]], v) for k, v in job_env.items()}
    done = []
    for name, script in steps:
        if name.startswith(skip):
            continue
        prefix = "".join(f"export {k}={v}\n" for k, v in exports.items())
        # azsqlctl in the job: this test environment's interpreter
        prefix += f'azsqlctl() {{ {shlex.join(CLI)} "$@"; }}\nexport -f azsqlctl 2>/dev/null || true\n'
        result = cli(
            tmp_path, "sandbox", "run", "--state", str(state), "--as", subject_spec, "--", "bash", "-ec", prefix + script, cwd=project
        )
        done.append(result)
        if result.returncode != 0:
            break
    return done


def test_generated_workflow_runs_against_the_sandbox(tmp_path: Path) -> None:
    project = tmp_path / "shop"
    for f in render(ScaffoldInputs(package="shop.db", ci=Ci.GITHUB)):
        path = project / f.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f.content)
    (project / "shop" / "__init__.py").write_text("")
    (project / "scripts").mkdir()
    (project / "scripts" / "migrate.sh").write_text(MIGRATE_SH)
    (project / "scripts" / "migrate.sh").chmod(0o755)
    workflow = next((project / ".github" / "workflows").glob("*.yml")).read_text()
    state = tmp_path / "state.json"

    ids, tenant, app_client = federated_apps(
        tmp_path, project, state, GITHUB,
        {"db-checker": f"repo:{REPO}:environment:database-read", "db-migrator": f"repo:{REPO}:environment:database-migrations"},
    )  # fmt: skip

    # The workflow-level env (AZSQLCTL_SERVER/DATABASE from vars) is what the sandbox's environment already holds.
    variables = {"AZURE_TENANT_ID": tenant, "AZSQL_CHECKER_CLIENT_ID": ids["db-checker"], "AZSQL_MIGRATOR_CLIENT_ID": ids["db-migrator"]}

    drift = run_job(tmp_path, project, state, workflow, "drift", f"github:{REPO}:environment:database-read", variables)
    assert [r.returncode for r in drift] == [0, 0], [r.stdout[-2000:] + r.stderr[-2000:] for r in drift]
    assert json.loads(drift[1].stdout)["status"] == "ok"

    migrate = run_job(tmp_path, project, state, workflow, "migrate", f"github:{REPO}:environment:database-migrations", variables)
    assert [r.returncode for r in migrate] == [0, 0], [r.stdout[-2000:] + r.stderr[-2000:] for r in migrate]
    assert "migrated" in migrate[1].stdout

    # The app's own identity (a reader) runs the same migration: refused by SQL Server's permission check (262).
    as_app = cli(tmp_path, "sandbox", "run", "--state", str(state), "--", "bash", "-ec",
                 f"AZSQL_CLIENT_ID={app_client} ./scripts/migrate.sh", cwd=project)  # fmt: skip
    assert as_app.returncode != 0
    assert "262" in as_app.stderr and "CREATE TABLE permission denied" in as_app.stderr, as_app.stderr[-2000:]

    # A pull-request job without the environment: GitHub presents ':pull_request'; doctor says what to add.
    pr_workflow = workflow.replace("    environment: database-read\n", "")
    pr = run_job(tmp_path, project, state, pr_workflow, "drift", f"github:{REPO}:pull_request", variables)
    assert pr[0].returncode != 0
    pr_doctor = cli(tmp_path, "sandbox", "run", "--state", str(state), "--as", f"github:{REPO}:pull_request", "--as-client-id",
                    ids["db-checker"], "--", *CLI, "doctor", "--auth", "github-actions", "-o", "json", cwd=project)  # fmt: skip
    cred = next(c for c in json.loads(pr_doctor.stdout)["data"]["checks"] if c["id"] == "credential")
    assert cred["code"] == "AADSTS700213"
    assert f'"subject":"repo:{REPO}:pull_request"' in cred["fix"] and f"--id {ids['db-checker']}" in cred["fix"]
