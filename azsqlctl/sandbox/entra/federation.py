"""Federation issuers: the external identity providers a job or pod presents tokens from.

Each issuer signs RS256 tokens with its own key (kept in the sandbox's material directory) under the
issuer URL the real provider uses, so a federated credential configured for the sandbox reads exactly
as it would in Entra (``az ad app federated-credential create --parameters ...``):

- GitHub Actions: ``iss`` https://token.actions.githubusercontent.com; the runner contract is
  ``GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=...`` with ``Authorization: Bearer
  $ACTIONS_ID_TOKEN_REQUEST_TOKEN`` answering ``{"value": "<jwt>"}`` (actions/toolkit oidc-utils.ts).
  ``sub`` precedence: environment > pull_request > ref (GitHub docs, "Example subject claims").
  Default ``aud`` is the owner URL (https://github.com/ORG) unless an audience is asked for.
- AKS workload identity: ``iss`` the cluster's OIDC issuer URL *with* its trailing slash,
  ``sub`` system:serviceaccount:NS:NAME, ``aud`` ["api://AzureADTokenExchange"] (a JSON array),
  written to the projected token file AZURE_FEDERATED_TOKEN_FILE names.
- Azure Pipelines: ``POST $SYSTEM_OIDCREQUESTURI?api-version=7.1&serviceConnectionId=ID`` with the
  job's access token answering ``{"oidcToken": "<jwt>"}`` (azure-identity's AzurePipelinesCredential).
  The ``iss`` (https://vstoken.dev.azure.com/<organization id>) and ``sub`` (sc://ORG/PROJECT/CONNECTION)
  forms are taken from Azure DevOps' service-connection page, not from the reference notes: not confirmed.

Entra validates a federated token by fetching its issuer's discovery document and keys; the sandbox
authority instead trusts exactly these in-process issuers (a token from any other issuer is refused
with AADSTS90061, as an unreachable issuer is).
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..state import stable_id
from .apps_state import TOKEN_EXCHANGE_AUDIENCE
from .tokens import Issuer

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
AKS_ISSUER = f"https://oidc.prod-aks.azure.com/{stable_id('aks-cluster')}/"
PIPELINES_ORGANIZATION_ID = stable_id("azure-devops-organization")
PIPELINES_ISSUER = f"https://vstoken.dev.azure.com/{PIPELINES_ORGANIZATION_ID}"
TOKEN_LIFETIME = 300  # GitHub's example: exp = iat + 300, nbf = iat - 600 (GitHub docs)
AKS_TOKEN_LIFETIME = 3600  # the webhook's default service-account token expiration

IssuerKind = Literal["github", "aks", "pipelines"]
ISSUER_URLS: dict[IssuerKind, str] = {"github": GITHUB_ISSUER, "aks": AKS_ISSUER, "pipelines": PIPELINES_ISSUER}


@dataclass(frozen=True)
class GithubJob:
    """What a GitHub Actions job's OIDC token says about it."""

    repository: str  # ORG/REPO
    ref: str = "refs/heads/main"
    environment: str = ""
    event_name: str = "push"
    sha: str = "0" * 40
    actor: str = "octocat"
    workflow: str = "ci"

    @property
    def subject(self) -> str:
        # ':' inside a value is encoded as %3A (GitHub docs); precedence environment > pull_request > ref.
        repo = f"repo:{self.repository}"
        if self.environment:
            return f"{repo}:environment:{self.environment.replace(':', '%3A')}"
        if self.event_name == "pull_request":
            return f"{repo}:pull_request"
        return f"{repo}:ref:{self.ref.replace(':', '%3A')}"

    def claims(self, audience: str, now: int) -> dict[str, Any]:
        owner = self.repository.split("/", 1)[0]
        return {
            "iss": GITHUB_ISSUER,
            "aud": audience or f"https://github.com/{owner}",
            "sub": self.subject,
            "jti": str(uuid.uuid4()),
            "nbf": now - 600,
            "iat": now,
            "exp": now + TOKEN_LIFETIME,
            "ref": self.ref,
            "ref_type": "tag" if self.ref.startswith("refs/tags/") else "branch",
            "sha": self.sha,
            "repository": self.repository,
            "repository_owner": owner,
            "actor": self.actor,
            "workflow": self.workflow,
            "event_name": self.event_name,
            "environment": self.environment or None,
            "job_workflow_ref": f"{self.repository}/.github/workflows/{self.workflow}.yml@{self.ref}",
            "runner_environment": "github-hosted",
        }


@dataclass(frozen=True)
class PipelinesJob:
    organization: str
    project: str
    connection: str  # the service connection's name
    connection_id: str

    @property
    def subject(self) -> str:
        return f"sc://{self.organization}/{self.project}/{self.connection}"


def aks_subject(namespace: str, service_account: str) -> str:
    return f"system:serviceaccount:{namespace}:{service_account}"


@dataclass
class Federation:
    """The sandbox's federation issuers and the jobs that may ask them for tokens.

    Each issuer's key is loaded (or generated: ~40 ms of CPU per RSA key) when it first signs or verifies, not when
    the sandbox starts: most runs never see a federated token, and a fresh sandbox (every ``--scenario`` run) would
    otherwise generate all three. The file is the same either way (``<material>/federation-<kind>-key.pem``).
    """

    material: Path | None  # None: keys in memory only (a stand-in issuer, as tests forge tokens with)
    github_jobs: dict[str, GithubJob] = field(default_factory=dict)  # request token -> job
    pipelines_jobs: dict[str, PipelinesJob] = field(default_factory=dict)  # system access token -> job
    _signers: dict[IssuerKind, Issuer] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load_or_create(cls, material: Path | None) -> Federation:
        return cls(material)

    def signer(self, kind: IssuerKind) -> Issuer:
        """``kind``'s issuer, its key loaded or created on first use (one thread creates it; the others wait)."""
        with self._lock:
            found = self._signers.get(kind)
            if found is None:
                path = self.material / f"federation-{kind}-key.pem" if self.material else None
                found = self._signers[kind] = Issuer.load_or_create(path)
            return found

    def signer_for(self, issuer_url: str) -> Issuer | None:
        return next((self.signer(k) for k, url in ISSUER_URLS.items() if url == issuer_url), None)

    def sign(self, kind: IssuerKind, claims: dict[str, Any]) -> str:
        return self.signer(kind).sign({k: v for k, v in claims.items() if v is not None})

    def github_token(self, job: GithubJob, audience: str = "") -> str:
        return self.sign("github", job.claims(audience, int(time.time())))

    def aks_token(self, namespace: str, service_account: str, lifetime: int = AKS_TOKEN_LIFETIME) -> str:
        now = int(time.time())
        return self.sign("aks", {
            "aud": [TOKEN_EXCHANGE_AUDIENCE], "iss": AKS_ISSUER, "sub": aks_subject(namespace, service_account),
            "iat": now, "nbf": now, "exp": now + lifetime,
            "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": service_account, "uid": stable_id(f"sa/{namespace}/{service_account}")}},
        })  # fmt: skip

    def pipelines_token(self, job: PipelinesJob) -> str:
        now = int(time.time())
        return self.sign("pipelines", {
            "aud": TOKEN_EXCHANGE_AUDIENCE, "iss": PIPELINES_ISSUER, "sub": job.subject,
            "iat": now, "nbf": now, "exp": now + 600, "jti": str(uuid.uuid4()),
        })  # fmt: skip

    def register_github_job(self, job: GithubJob) -> str:
        """A runner's ACTIONS_ID_TOKEN_REQUEST_TOKEN for ``job``."""
        token = secrets.token_urlsafe(32)
        self.github_jobs[token] = job
        return token

    def register_pipelines_job(self, job: PipelinesJob) -> str:
        """A job's SYSTEM_ACCESSTOKEN for ``job``."""
        token = secrets.token_urlsafe(32)
        self.pipelines_jobs[token] = job
        return token


def github_job_from_spec(spec: str) -> GithubJob:
    """``ORG/REPO@REF``, ``ORG/REPO:environment:NAME`` or ``ORG/REPO:pull_request`` (the --as github:... forms)."""
    repo, _, rest = spec.partition(":")
    repo, _, ref = repo.partition("@")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise ValueError(f"'{spec}' does not start with ORG/REPO")
    if rest == "pull_request":
        return GithubJob(repo, ref=ref or "refs/pull/1/merge", event_name="pull_request")
    if rest.startswith("environment:"):
        return GithubJob(repo, ref=ref or "refs/heads/main", environment=rest.removeprefix("environment:"))
    if rest:
        raise ValueError(f"'{spec}': after ORG/REPO[@REF] expected ':environment:NAME' or ':pull_request'")
    ref = ref or "refs/heads/main"
    if not ref.startswith("refs/"):
        ref = f"refs/heads/{ref}"
    return GithubJob(repo, ref=ref)
