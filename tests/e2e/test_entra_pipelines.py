"""The generated Azure Pipelines pipeline: checked structurally, and its drift and migrate stages run against the sandbox.

Each step's `script:` runs in order (install steps aside: the test environment has azsqlctl and the driver)
under `sandbox run --as pipelines:ORG/PROJECT/CONNECTION`, with what an agent gives a plain script step:
``SYSTEM_OIDCREQUESTURI`` (a predefined variable) and the step's own ``env:`` with ``$(...)`` macros
expanded - ``$(System.AccessToken)`` from the job, the others from pipeline variables. The AzureCLI@2-only
``AZURESUBSCRIPTION_*`` variables and the token itself are removed first: a script step has them only if mapped.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from azsqlctl.cli.app import app
from azsqlctl.core.scaffold import Ci, ScaffoldInputs, render
from azsqlctl.sandbox.entra.federation import PIPELINES_ISSUER
from azsqlctl.sandbox.serve import Sandbox
from tests.e2e.test_entra_workflow import CLI, MIGRATE_SH, cli, federated_apps

pytestmark = [
    pytest.mark.sandbox_keys,  # CLI sandboxes over --state in tmp_path: the session's keys (tests/conftest.py)
    pytest.mark.usefixtures("cli_fork"),  # many `python -m azsqlctl` processes: tests/cli_fork.py
]

ORG, PROJECT = "contoso", "shop"
NOT_IN_A_SCRIPT_STEP = ("SYSTEM_ACCESSTOKEN", "AZURESUBSCRIPTION_CLIENT_ID", "AZURESUBSCRIPTION_TENANT_ID",
                        "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID", "AZURE_CLIENT_ID", "AZURE_TENANT_ID")  # fmt: skip


def _project(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    project = tmp_path / "shop"
    for f in render(ScaffoldInputs(package="shop.db", ci=Ci.AZURE_PIPELINES)):
        path = project / f.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f.content)
    (project / "shop" / "__init__.py").write_text("")
    (project / "scripts").mkdir()
    (project / "scripts" / "migrate.sh").write_text(MIGRATE_SH)
    (project / "scripts" / "migrate.sh").chmod(0o755)
    pipeline = yaml.safe_load(next(project.glob("azure-pipelines*.yml")).read_text())
    return project, pipeline


def _stage_steps(pipeline: dict[str, Any], stage: str) -> list[dict[str, Any]]:
    (job,) = next(s for s in pipeline["stages"] if s["stage"] == stage)["jobs"]
    if "deployment" in job:
        return list(job["strategy"]["runOnce"]["deploy"]["steps"])
    return list(job["steps"])


def test_generated_pipeline_structure(tmp_path: Path) -> None:
    """No AzureCLI task, no secret: each database step logs in with azure-pipelines auth, maps System.AccessToken."""
    _, pipeline = _project(tmp_path)
    assert [s["stage"] for s in pipeline["stages"]] == ["test", "drift", "migrate"]
    migrate_stage = next(s for s in pipeline["stages"] if s["stage"] == "migrate")
    assert "eq(variables['Build.SourceBranch'], 'refs/heads/main')" in migrate_stage["condition"]
    assert migrate_stage["jobs"][0]["environment"] == "database-migrations"
    for stage, identity in (("drift", "CHECKER"), ("migrate", "MIGRATOR")):
        steps = _stage_steps(pipeline, stage)
        assert {s["task"] for s in steps if "task" in s} == {"UsePythonVersion@0"}  # no AzureCLI@2, no az login
        db_steps = [s for s in steps if "script" in s and s["displayName"] not in ("install", "install azsqlctl")]
        assert len(db_steps) == 2
        for step in db_steps:
            assert step["env"] == {
                "AZSQLCTL_AUTH": "azure-pipelines",
                "AZURE_CLIENT_ID": f"$(AZSQL_{identity}_CLIENT_ID)",
                "AZURE_TENANT_ID": "$(AZURE_TENANT_ID)",
                "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID": f"$(AZSQL_{identity}_SERVICE_CONNECTION_ID)",
                "SYSTEM_ACCESSTOKEN": "$(System.AccessToken)",
            }
    text = json.dumps(pipeline)
    assert "SECRET" not in text.upper() and "azureSubscription" not in text
    assert "MIGRATOR" not in json.dumps(_stage_steps(pipeline, "drift"))


def run_stage(tmp_path: Path, project: Path, state: Path, pipeline: dict[str, Any], stage: str, connection: str,
              variables: dict[str, str]) -> list[Any]:  # fmt: skip
    """Run a stage's script steps in order under `sandbox run --as pipelines:...`; stops at the first failure."""
    done = []
    for step in _stage_steps(pipeline, stage):
        if "script" not in step or step["displayName"].startswith("install"):
            continue

        def expand(value: str) -> str:
            return re.sub(r"\$\((\w+)\)", lambda m: shlex.quote(variables[m[1]]), value).replace("$(System.AccessToken)", '"$_job_token"')

        prefix = f'_job_token="$SYSTEM_ACCESSTOKEN"\nunset {" ".join(NOT_IN_A_SCRIPT_STEP)}\n'
        prefix += "".join(f"export {k}={expand(v)}\n" for k, v in step.get("env", {}).items())
        prefix += f'azsqlctl() {{ {shlex.join(CLI)} "$@"; }}\n'
        result = cli(tmp_path, "sandbox", "run", "--state", str(state), "--as", f"pipelines:{ORG}/{PROJECT}/{connection}",
                     "--", "bash", "-ec", prefix + step["script"], cwd=project)  # fmt: skip
        done.append(result)
        if result.returncode != 0:
            break
    return done


def _connection_id(tmp_path: Path, state: Path, connection: str) -> str:
    """The service connection's id, as its page in Azure DevOps shows it (resourceId=...)."""
    shown = cli(tmp_path, "sandbox", "run", "--state", str(state), "--as", f"pipelines:{ORG}/{PROJECT}/{connection}", "--",
                "printenv", "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID")  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    return shown.stdout.strip()


def test_generated_pipeline_runs_against_the_sandbox(tmp_path: Path) -> None:
    project, pipeline = _project(tmp_path)
    state = tmp_path / "state.json"
    ids, tenant, app_client = federated_apps(
        tmp_path, project, state, PIPELINES_ISSUER, {app: f"sc://{ORG}/{PROJECT}/{app}" for app in ("azsql-checker", "azsql-migrator")}
    )
    variables = {
        "AZURE_TENANT_ID": tenant,
        "AZSQL_CHECKER_CLIENT_ID": ids["azsql-checker"],
        "AZSQL_CHECKER_SERVICE_CONNECTION_ID": _connection_id(tmp_path, state, "azsql-checker"),
        "AZSQL_MIGRATOR_CLIENT_ID": ids["azsql-migrator"],
        "AZSQL_MIGRATOR_SERVICE_CONNECTION_ID": _connection_id(tmp_path, state, "azsql-migrator"),
    }

    drift = run_stage(tmp_path, project, state, pipeline, "drift", "azsql-checker", variables)
    assert [r.returncode for r in drift] == [0, 0], [r.stdout[-2000:] + r.stderr[-2000:] for r in drift]
    doctor = json.loads(drift[1].stdout)
    assert doctor["status"] == "ok"
    credential = next(c for c in doctor["data"]["checks"] if c["id"] == "credential")
    assert credential["status"] == "pass" and "AzurePipelinesCredential" in json.dumps(credential), credential

    migrate = run_stage(tmp_path, project, state, pipeline, "migrate", "azsql-migrator", variables)
    assert [r.returncode for r in migrate] == [0, 0], [r.stdout[-2000:] + r.stderr[-2000:] for r in migrate]
    assert "migrated" in migrate[1].stdout

    # The app's own identity (a reader) runs the same migration: refused by SQL Server's permission check (262).
    as_app = cli(tmp_path, "sandbox", "run", "--state", str(state), "--", "bash", "-ec",
                 f"AZSQL_CLIENT_ID={app_client} ./scripts/migrate.sh", cwd=project)  # fmt: skip
    assert as_app.returncode != 0
    assert "262" in as_app.stderr and "CREATE TABLE permission denied" in as_app.stderr, as_app.stderr[-2000:]

    # A job using another service connection (no federated credential of the checker trusts its subject):
    # Entra's refusal, and doctor's fix names the subject presented.
    other = variables | {"AZSQL_CHECKER_SERVICE_CONNECTION_ID": _connection_id(tmp_path, state, "azsql-other")}
    refused = run_stage(tmp_path, project, state, pipeline, "drift", "azsql-other", other)
    assert len(refused) == 1 and refused[0].returncode != 0
    assert re.search(r"AADSTS70021|AADSTS700213", refused[0].stderr), refused[0].stderr[-2000:]
    doctor_step = next(s for s in _stage_steps(pipeline, "drift") if "doctor" in s.get("script", ""))
    refused_doctor = run_stage(tmp_path, project, state, {"stages": [{"stage": "d", "jobs": [{"job": "d", "steps": [doctor_step]}]}]},
                               "d", "azsql-other", other)  # fmt: skip
    cred = next(c for c in json.loads(refused_doctor[0].stdout)["data"]["checks"] if c["id"] == "credential")
    assert cred["code"] in ("AADSTS70021", "AADSTS700213"), cred
    assert f'"subject":"sc://{ORG}/{PROJECT}/azsql-other"' in cred["fix"] and f"--id {ids['azsql-checker']}" in cred["fix"]
    assert f"az ad app federated-credential list --id {ids['azsql-checker']}" in cred["fix"]


def test_a_step_that_does_not_map_the_access_token_is_told_how(tmp_path: Path) -> None:
    """Inside a pipeline job (`sandbox run --as pipelines:...`, as a user runs it) without the mapping; then outside
    any job: test_outside_a_pipeline_job_the_missing_variable_is_named."""
    state = tmp_path / "state.json"
    result = cli(tmp_path, "sandbox", "run", "--state", str(state), "--as", f"pipelines:{ORG}/{PROJECT}/azsql-checker", "--",
                 "bash", "-c", f"unset SYSTEM_ACCESSTOKEN; {shlex.join(CLI)} doctor --auth azure-pipelines -o json")  # fmt: skip
    cred = next(c for c in json.loads(result.stdout)["data"]["checks"] if c["id"] == "credential")
    assert cred["status"] == "fail" and "SYSTEM_ACCESSTOKEN" in json.dumps(cred), cred
    assert "SYSTEM_ACCESSTOKEN: $(System.AccessToken)" in cred["fix"], cred


def test_outside_a_pipeline_job_the_missing_variable_is_named(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    """The sandbox's environment and no job's (what `sandbox run` without --as gives): in this process, as the
    refusal comes from the credential before anything is asked of the sandbox (~1.5 s CPU less than a run)."""
    outside = CliRunner().invoke(app, ["whoami", "--auth", "azure-pipelines"])
    assert outside.exit_code != 0 and "SYSTEM_OIDCREQUESTURI is not set" in outside.stderr, outside.stderr
