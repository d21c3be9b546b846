from __future__ import annotations

from azsqlctl.azure.credentials import summarize

# What DefaultAzureCredential raises off Azure with a misconfigured user-assigned identity
# (shape of azure-identity 1.2x's chained error message).
CHAIN = """DefaultAzureCredential failed to retrieve a token from the included credentials.
Attempted credentials:
\tEnvironmentCredential: EnvironmentCredential authentication unavailable. Environment variables are not fully configured.
Visit https://aka.ms/azsdk/python/identity/environmentcredential/troubleshoot to troubleshoot this issue.
\tManagedIdentityCredential: App Service managed identity configuration not found in environment. Token request error: (invalid_scope) 400, No managed identity matches.
\tAzureCliCredential: Azure CLI not found on path
\tClientSecretCredential: AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value.
To mitigate this issue, please refer to the troubleshooting guidelines here at https://aka.ms/azsdk/python/identity/defaultazurecredential/troubleshoot."""


def test_configured_links_first_and_the_rest_counted() -> None:
    text, chain = summarize(CHAIN)
    # the endpoint's own answer, without azure-identity's misleading "configuration not found" preamble
    assert text.startswith("ManagedIdentityCredential: (invalid_scope) 400, No managed identity matches.")
    assert "ClientSecretCredential: AADSTS7000215: Invalid client secret provided." in text
    assert text.endswith("(2 other credentials not configured)")
    assert "https://" not in text
    assert [c["credential"] for c in chain] == [
        "EnvironmentCredential",
        "ManagedIdentityCredential",
        "AzureCliCredential",
        "ClientSecretCredential",
    ]


def test_nothing_configured() -> None:
    text, _chain = summarize(
        "EnvironmentCredential: EnvironmentCredential authentication unavailable.\nAzureCliCredential: Azure CLI not found on path"
    )
    assert text == "no credential is configured here (EnvironmentCredential, AzureCliCredential)"
