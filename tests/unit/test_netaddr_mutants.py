"""core/netaddr.py: what is an address, which are public, which range holds one (exact answers, both families)."""

from __future__ import annotations

import pytest

from azsqlctl.core.netaddr import covers, is_ip, is_public


@pytest.mark.parametrize("text", ["10.0.0.1", "0.0.0.0", "::1", "[::1]", "[2001:db8::5]", "fe80::1"])
def test_address_literals_are_ips(text: str) -> None:
    assert is_ip(text) is True


@pytest.mark.parametrize("text", ["", "server.database.windows.net", "X10.0.0.1", "10.0.0.256", "[]", "10.0.0", "localhost"])
def test_names_and_broken_literals_are_not(text: str) -> None:
    assert is_ip(text) is False


@pytest.mark.parametrize("address", ["8.8.8.8", "20.40.1.2", "2606:4700::1111"])
def test_global_addresses_are_public(address: str) -> None:
    assert is_public(address) is True


@pytest.mark.parametrize("address", ["10.1.2.3", "192.168.0.5", "172.16.0.1", "127.0.0.1", "::1", "fd00::1", "not-an-ip", ""])
def test_private_loopback_and_garbage_are_not_public(address: str) -> None:
    assert is_public(address) is False


def test_a_range_holds_its_ends_and_nothing_outside() -> None:
    assert covers("10.0.0.1", "10.0.0.9", "10.0.0.1") is True
    assert covers("10.0.0.1", "10.0.0.9", "10.0.0.9") is True
    assert covers("10.0.0.1", "10.0.0.9", "10.0.0.5") is True
    assert covers("10.0.0.1", "10.0.0.9", "10.0.0.0") is False
    assert covers("10.0.0.1", "10.0.0.9", "10.0.0.10") is False
    assert covers("0.0.0.0", "0.0.0.0", "0.0.0.0") is True  # the allow-Azure-services rule's own range


def test_families_never_mix_and_garbage_is_not_covered() -> None:
    assert covers("0.0.0.0", "255.255.255.255", "::1") is False
    assert covers("::", "ffff::", "10.0.0.1") is False
    assert covers("::", "ffff::", "::1") is True
    assert covers("10.0.0.0", "::ffff", "10.0.0.1") is False
    assert covers("nope", "10.0.0.9", "10.0.0.1") is False
    assert covers("10.0.0.1", "10.0.0.9", "nope") is False
