"""AADSTS refusals as azure-identity words them -> what doctor says (pure logic, texts written out)."""

from __future__ import annotations

from azsqlctl.core.diagnosis import EntraFailure, explain_entra_failure, parse_entra_failure

APP = "3df2c823-e175-47f3-b35a-63b70bc7f673"
ASSERTION_PATH = (
    "Microsoft Entra ID error '(invalid_client) AADSTS700213: No matching federated identity record found for presented assertion "
    "subject 'repo:contoso/orders:pull_request'. Check your federated identity credential Subject, Audience and Issuer against "
    "the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation\r\nTrace ID: x'\nContent: {}"
)
GENERIC = (
    "AADSTS70021: No matching federated identity record found for presented assertion. Assertion Issuer: "
    "'https://oidc.prod-aks.azure.com/0000/'. Assertion Subject: 'system:serviceaccount:prod:orders'. Assertion Audience: "
    "'api://AzureADTokenExchange'."
)


def test_parse_the_subject_and_the_generic_form() -> None:
    assert parse_entra_failure(ASSERTION_PATH) == EntraFailure("AADSTS700213", subject="repo:contoso/orders:pull_request")
    assert parse_entra_failure(GENERIC) == EntraFailure(
        "AADSTS70021", "https://oidc.prod-aks.azure.com/0000/", "system:serviceaccount:prod:orders", "api://AzureADTokenExchange"
    )
    assert parse_entra_failure("Authentication failed: no code here") is None
    secret = parse_entra_failure(
        f"Authentication failed: AADSTS7000222: The provided client secret keys for app '{APP}' are expired. Visit the Azure portal"
    )
    assert secret == EntraFailure("AADSTS7000222", client_id=APP)
    cert = parse_entra_failure(
        "AADSTS700027: Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by "
        f"client: 'E387F87BC33BC48E79161A4307DA9D3F21A88425', Please visit ... for app Id '{APP}'."
    )
    assert cert is not None and (cert.thumbprint, cert.client_id) == ("E387F87BC33BC48E79161A4307DA9D3F21A88425", APP)


def test_subject_mismatch_gives_the_command_that_trusts_the_presented_subject() -> None:
    failure = parse_entra_failure(ASSERTION_PATH)
    assert failure is not None
    explained = explain_entra_failure(failure, APP)
    assert explained is not None
    cause, fix = explained
    assert cause == (
        f"no federated credential of app {APP} trusts the token presented: issuer 'https://token.actions.githubusercontent.com', "
        "subject 'repo:contoso/orders:pull_request'; GitHub presents ':pull_request' for pull-request workflows, not the branch ref"
    )
    assert fix.endswith(
        f'az ad app federated-credential create --id {APP} --parameters \'{{"name":"repo-contoso-orders-pull_request",'
        '"issuer":"https://token.actions.githubusercontent.com","subject":"repo:contoso/orders:pull_request",'
        '"audiences":["api://AzureADTokenExchange"]}\''
    )
    assert f"az ad app federated-credential list --id {APP}" in fix
    assert "not in Entra's error" in fix and "az identity federated-credential list" in fix


def test_case_only_and_issuer_and_secret_explanations() -> None:
    case = explain_entra_failure(EntraFailure("AADSTS7002138", subject="repo:Contoso/Orders:ref:refs/heads/main"), APP)
    assert case is not None and "only in upper/lower case (matching is case-sensitive)" in case[0]
    issuer = explain_entra_failure(EntraFailure("AADSTS700211", issuer="https://oidc.prod-aks.azure.com/0000"), APP)
    assert issuer is not None and "a trailing '/' counts" in issuer[0] and "oidcIssuerProfile.issuerUrl" in issuer[1]
    expired = explain_entra_failure(EntraFailure("AADSTS7000222", client_id=APP), secret_hint="Swx")
    assert expired == (
        f"the client secret of app {APP} starting 'Swx' has expired (Entra's error does not say when)",
        f"see when it ended: az ad app credential list --id {APP} --query \"[?hint=='Swx'].{{hint:hint, keyId:keyId, end:endDateTime}}\"; "
        f"add a new one (az ad app credential reset --id {APP} --append) and update AZURE_CLIENT_SECRET - "
        "or drop secrets for workload identity federation",
    )
    unknown_hint = explain_entra_failure(EntraFailure("AADSTS7000222", client_id=APP))
    assert unknown_hint is not None and '--query "[].{hint:hint, keyId:keyId, end:endDateTime}"' in unknown_hint[1]
    assert explain_entra_failure(EntraFailure("AADSTS1")) is None
