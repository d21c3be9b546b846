"""Azure SQL's server firewall as the sandbox applies it: a rule admits the addresses from its start to its end.

"Azure SQL Database and Azure Synapse IP firewall rules" (https://learn.microsoft.com/en-us/azure/azure-sql/database/firewall-configure):
a rule is a range of IPv4 addresses, both ends included. The sandbox's own check, compared with the client's
(core.netaddr) in tests/unit/test_sandbox_rules.py.
"""

from __future__ import annotations

import ipaddress


def admits(start_ip: str, end_ip: str, client_ip: str) -> bool:
    """Whether the rule [start_ip, end_ip] admits ``client_ip``; malformed or mixed-family input admits nothing."""
    try:
        low, high, ip = (ipaddress.ip_address(a) for a in (start_ip, end_ip, client_ip))
    except ValueError:
        return False
    return low.version == high.version == ip.version and low <= ip <= high  # type: ignore[operator]
