"""App registrations in the state file, and the subjects the federation issuers put in tokens (pure)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from azsqlctl.core.errors import NotFound, UsageError
from azsqlctl.sandbox import state as st
from azsqlctl.sandbox.entra import registry
from azsqlctl.sandbox.entra.federation import github_job_from_spec


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_apps_round_trip_through_the_state_file_and_keep_no_secret_value(tmp_path: Path, suffix: str) -> None:
    s = st.default_state()
    app = registry.create_app(s, "orders-ci")
    secret = registry.add_secret(s, "orders-ci", days=-1)
    cert_pem, _ = registry.new_certificate("orders-ci")
    registry.add_certificate(s, app.client_id, cert_pem)
    registry.add_federated_credential(s, "orders-ci", "main", "https://token.actions.githubusercontent.com", "repo:c/o:ref:refs/heads/main")
    registry.add_federated_credential(s, "orders-api", "aks", "https://oidc.example/x/", "system:serviceaccount:prod:orders")
    path = tmp_path / f"state{suffix}"
    st.dump(s, path)
    assert secret.value not in path.read_text()
    loaded = st.load(path)
    assert st.to_dict(loaded) == st.to_dict(s)
    again = loaded.apps.by_client_id(app.client_id)
    assert again is not None and again.secrets[0].hint == secret.value[:3]
    assert registry.secret_matches(again.secrets[0], secret.value) and not registry.secret_matches(again.secrets[0], "x")
    sp = loaded.identity_by_client_id(app.client_id)
    assert sp is not None and (sp.kind, sp.name, sp.sid_guid) == ("service_principal", "orders-ci", app.client_id)
    assert [a.managed_identity for a in loaded.apps.registrations] == [False, True]


def test_old_state_files_without_apps_still_load(tmp_path: Path) -> None:
    data = st.to_dict(st.default_state())
    del data["apps"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    assert st.load(path).apps.registrations == []


def test_registry_refusals() -> None:
    s = st.default_state()
    with pytest.raises(UsageError, match="already has a principal named 'orders-api'"):
        registry.create_app(s, "orders-api")
    with pytest.raises(NotFound, match="no app registration 'nope'"):
        registry.add_secret(s, "nope")
    with pytest.raises(UsageError, match="has no secrets"):
        registry.add_secret(s, "orders-api")  # a managed identity
    registry.create_app(s, "x-app")
    with pytest.raises(UsageError, match="no PEM certificate"):
        registry.add_certificate(s, "x-app", b"not a certificate")


@pytest.mark.parametrize(
    ("spec", "subject", "ref"),
    [
        ("contoso/orders@refs/heads/main", "repo:contoso/orders:ref:refs/heads/main", "refs/heads/main"),
        ("contoso/orders", "repo:contoso/orders:ref:refs/heads/main", "refs/heads/main"),
        ("contoso/orders@release", "repo:contoso/orders:ref:refs/heads/release", "refs/heads/release"),
        ("contoso/orders@refs/tags/v1", "repo:contoso/orders:ref:refs/tags/v1", "refs/tags/v1"),
        ("contoso/orders:pull_request", "repo:contoso/orders:pull_request", "refs/pull/1/merge"),
        ("contoso/orders:environment:Production:V1", "repo:contoso/orders:environment:Production%3AV1", "refs/heads/main"),
    ],
)
def test_github_subjects_follow_githubs_precedence(spec: str, subject: str, ref: str) -> None:
    job = github_job_from_spec(spec)
    assert (job.subject, job.ref) == (subject, ref)
    claims = job.claims("api://AzureADTokenExchange", 1_000_000)
    assert (claims["iss"], claims["sub"], claims["nbf"], claims["exp"]) == (
        "https://token.actions.githubusercontent.com", subject, 1_000_000 - 600, 1_000_000 + 300,
    )  # fmt: skip
    assert job.claims("", 0)["aud"] == "https://github.com/contoso"
