"""One sandbox per test module for the client tests: every client logs in, queries and writes its own tables.

State that tests share is kept apart by name (each test creates its own tables), so one sandbox
serves a whole module and the suite does not pay a sandbox start per test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .support import Clients, applied_sandbox


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory, material_dir: Path) -> Iterator[Clients]:
    """A started sandbox and the environment `sandbox serve` prints, applied to this process."""
    state_dir = tmp_path_factory.mktemp("clients")
    with applied_sandbox(state_dir, material_dir) as sandbox:
        yield Clients(sandbox)
