"""IP address rules, in one place: is this text an address, is it public, does a range cover it."""

from __future__ import annotations

import ipaddress


def is_ip(text: str) -> bool:
    """An IPv4 or IPv6 literal (IPv6 may be [bracketed], as in a server string)."""
    try:
        ipaddress.ip_address(text.strip("[]"))
        return True
    except ValueError:
        return False


def is_public(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_global
    except ValueError:
        return False


def covers(start: str, end: str, address: str) -> bool:
    """A firewall rule's range [start, end] holds ``address`` (same family only)."""
    try:
        first, last, ip = ipaddress.ip_address(start), ipaddress.ip_address(end), ipaddress.ip_address(address)
    except ValueError:
        return False
    if not first.version == last.version == ip.version:
        return False
    return int(first) <= int(ip) <= int(last)
