"""How many examples a property test runs: its full budget in the whole suite, a quarter of it in the quick loop.

The quick loop (`pytest -m "not slow"`) is the development loop: Hypothesis's own advice for one is fewer examples per
run, and local runs stay randomized, so repeated runs still explore new examples. The whole suite (the README's
command, CI) runs every property test with its full budget. tests/conftest.py sets QUICK before any test module is
imported; each `@settings` names its full budget as `examples(n)`, and a test that names none gets the profile's
default, `examples(100)`.
"""

from __future__ import annotations

QUICK = False
SHARE = 4  # ~15 s of the quick loop's CPU went to drawing and running examples before
FLOOR = 10


def examples(full: int) -> int:
    """``full`` in the whole suite; in the quick loop a quarter of it, never fewer than 10 nor more than ``full``."""
    return min(full, max(FLOOR, full // SHARE)) if QUICK else full
