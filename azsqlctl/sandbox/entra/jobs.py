"""`sandbox run --as KIND:SPEC`: the environment a CI job or a pod would have, against the sandbox.

- ``github:ORG/REPO[@REF]`` (a push to REF, default refs/heads/main), ``github:ORG/REPO:environment:NAME``,
  ``github:ORG/REPO:pull_request`` - a GitHub Actions job whose workflow grants ``id-token: write``:
  ``ACTIONS_ID_TOKEN_REQUEST_URL``/``_TOKEN`` (the runner's OIDC contract), ``GITHUB_*``, and
  ``AZURE_CLIENT_ID``/``AZURE_TENANT_ID`` as a workflow sets them from repository variables.
- ``aks:NAMESPACE/SERVICEACCOUNT`` - a pod the workload-identity webhook mutated: ``AZURE_CLIENT_ID``,
  ``AZURE_TENANT_ID``, ``AZURE_AUTHORITY_HOST``, ``AZURE_FEDERATED_TOKEN_FILE`` (a projected token file).
- ``pipelines:ORG/PROJECT/CONNECTION`` - an Azure Pipelines job using a workload-identity service
  connection: ``SYSTEM_OIDCREQUESTURI``, ``SYSTEM_ACCESSTOKEN`` and ``AZURESUBSCRIPTION_*`` (what the
  AzureCLI@2 task exports for AzurePipelinesCredential; a plain script step gets only
  ``SYSTEM_OIDCREQUESTURI`` and maps the others itself, as the generated pipeline does).

None of them has a managed identity: ``IDENTITY_ENDPOINT``/``IDENTITY_HEADER`` are removed, so
DefaultAzureCredential cannot fall back to the sandbox's App Service identity. The client id is the app
(or user-assigned identity) whose federated credential matches the job's issuer and subject; failing
that, the first one trusting the issuer (so a mismatch shows as Entra's refusal), unless given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from azsqlctl.core.errors import UsageError

from ..state import SandboxState, stable_id
from .federation import (
    AKS_ISSUER,
    GITHUB_ISSUER,
    PIPELINES_ISSUER,
    Federation,
    PipelinesJob,
    aks_subject,
    github_job_from_spec,
)

NOT_A_MANAGED_IDENTITY_HOST = ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET")
FORMS = "github:ORG/REPO[@REF], github:ORG/REPO:environment:NAME, github:ORG/REPO:pull_request, aks:NAMESPACE/SA, pipelines:ORG/PROJECT/CONNECTION"


@dataclass(frozen=True)
class JobEnvironment:
    set: dict[str, str]
    unset: tuple[str, ...]
    description: str  # e.g. "GitHub Actions job of contoso/orders, sub repo:contoso/orders:ref:refs/heads/main"


def _client_for(s: SandboxState, issuer: str, subject: str) -> str:
    apps = s.apps.registrations
    exact = next((a for a in apps if any(f.issuer == issuer and f.subject == subject for f in a.federated)), None)
    anyone = exact or next((a for a in apps if any(f.issuer == issuer for f in a.federated)), None)
    return anyone.client_id if anyone else ""


def job_environment(
    spec: str, state: SandboxState, federation: Federation, authority: str, workdir: Path, client_id: str = ""
) -> JobEnvironment:
    kind, _, rest = spec.partition(":")
    tenant = state.tenant_id
    if kind == "github":
        try:
            job = github_job_from_spec(rest)
        except ValueError as exc:
            raise UsageError(f"--as '{spec}': {exc}", f"use one of: {FORMS}", code="bad_as") from None
        cid = client_id or _client_for(state, GITHUB_ISSUER, job.subject)
        request_token = federation.register_github_job(job)
        env = {
            "CI": "true", "GITHUB_ACTIONS": "true", "RUNNER_OS": "Linux", "GITHUB_REPOSITORY": job.repository,
            "GITHUB_REPOSITORY_OWNER": job.repository.split("/")[0], "GITHUB_REF": job.ref,
            "GITHUB_REF_NAME": job.ref.rsplit("/", 1)[-1], "GITHUB_EVENT_NAME": job.event_name, "GITHUB_SHA": job.sha,
            "GITHUB_WORKFLOW": job.workflow,
            "ACTIONS_ID_TOKEN_REQUEST_URL": f"{authority}/_github/idtoken?api-version=2.0",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": request_token,
            "AZURE_TENANT_ID": tenant,
            # Not set on GitHub's runners: the sandbox's addition, so azure-identity in the job reaches its authority.
            "AZURE_AUTHORITY_HOST": authority,
        }  # fmt: skip
        description = f"GitHub Actions job of {job.repository} (sub {job.subject})"
    elif kind == "aks":
        namespace, _, account = rest.partition("/")
        if not namespace or not account or "/" in account:
            raise UsageError(f"--as '{spec}': expected aks:NAMESPACE/SERVICEACCOUNT", f"use one of: {FORMS}", code="bad_as")
        subject = aks_subject(namespace, account)
        cid = client_id or _client_for(state, AKS_ISSUER, subject)
        token_file = workdir / "azure-identity-token"
        token_file.write_text(federation.aks_token(namespace, account), encoding="utf-8")
        token_file.chmod(0o600)
        env = {
            "AZURE_TENANT_ID": tenant, "AZURE_AUTHORITY_HOST": authority + "/",
            "AZURE_FEDERATED_TOKEN_FILE": str(token_file), "KUBERNETES_SERVICE_HOST": "10.0.0.1",
        }  # fmt: skip
        description = f"AKS pod with service account {namespace}/{account} (sub {subject})"
    elif kind == "pipelines":
        parts = rest.split("/")
        if len(parts) != 3 or not all(parts):
            raise UsageError(f"--as '{spec}': expected pipelines:ORG/PROJECT/CONNECTION", f"use one of: {FORMS}", code="bad_as")
        pjob = PipelinesJob(parts[0], parts[1], parts[2], stable_id(f"service-connection/{rest}"))
        cid = client_id or _client_for(state, PIPELINES_ISSUER, pjob.subject)
        access = federation.register_pipelines_job(pjob)
        env = {
            "TF_BUILD": "True", "SYSTEM_OIDCREQUESTURI": f"{authority}/_pipelines/oidctoken", "SYSTEM_ACCESSTOKEN": access,
            "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID": pjob.connection_id, "AZURESUBSCRIPTION_TENANT_ID": tenant,
            "AZURESUBSCRIPTION_CLIENT_ID": cid, "AZURE_TENANT_ID": tenant,
            # Not set on Microsoft's agents: the sandbox's addition, so azure-identity in the job reaches its authority.
            "AZURE_AUTHORITY_HOST": authority,
        }  # fmt: skip
        description = f"Azure Pipelines job using service connection {pjob.subject}"
    else:
        raise UsageError(f"--as '{spec}': unknown kind '{kind}'", f"use one of: {FORMS}", code="bad_as")
    if cid:
        env["AZURE_CLIENT_ID"] = cid
    return JobEnvironment(env, NOT_A_MANAGED_IDENTITY_HOST, description)
