"""Test with the azsqlctl sandbox: a pytest plugin (``azsqlctl.testing.plugin``) and its state handle.

Installed with azsqlctl, the plugin is loaded by pytest through the ``pytest11`` entry point, so any
project's tests can ask for the fixtures ``azsql_sandbox``, ``azsql_env``, ``azsql_identities`` and
``azsql_control`` - the real azure-identity and the real ODBC driver against a local Azure SQL + Entra
stand-in, no Azure account.
"""

from __future__ import annotations

from .control import FederatedJob, IdentityInfo, SandboxControl, ServicePrincipal

__all__ = ["FederatedJob", "IdentityInfo", "SandboxControl", "ServicePrincipal"]
