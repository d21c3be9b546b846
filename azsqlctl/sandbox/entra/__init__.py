"""The sandbox as Microsoft Entra ID for apps: an authority (OpenID configuration, JWKS, token endpoint),
app registrations with their secrets, certificates and federated credentials, and the federation
issuers a job or pod would present tokens from (GitHub-Actions-, AKS- and Azure-Pipelines-like).
"""
