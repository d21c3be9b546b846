"""azure-mgmt-sql clients pointed at the selected cloud (imported lazily)."""

from __future__ import annotations

from typing import Any

from azsqlctl.core.clouds import Cloud


def sql_management_client(credential: Any, cloud: Cloud, subscription_id: str) -> Any:
    """A SqlManagementClient for ``cloud``; a private CA is passed explicitly, never via globals."""
    from azure.mgmt.sql import SqlManagementClient

    kwargs: dict[str, Any] = {"base_url": cloud.arm_endpoint, "credential_scopes": [cloud.arm_scope]}
    if cloud.ca_bundle:
        kwargs["connection_verify"] = cloud.ca_bundle
    return SqlManagementClient(credential, subscription_id, **kwargs)
