"""Microsoft's Kusto language service (validate.js), one process per run: every module and xdist worker shares it.

A node start-up with the service's scripts, grammar and JIT warm-up is ~2 s of CPU, paid once rather than per
module or per worker (language_service.py says how the workers share it). The service keeps no state between
queries (each is parsed and analysed on its own against the same schema), so sharing it changes no result.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests import npm_trees
from tests.kusto.language_service import Validator

collect_ignore = ["node_modules"]


@pytest.fixture(scope="session")
def validator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Validator]:
    """Microsoft's Kusto language service, locked in tests/kusto (installed on first use, never skipped)."""
    npm_trees.ensure(npm_trees.KUSTO, "@kusto/language-service-next")
    # an xdist worker's base temp is <run root>/popen-gwN: the run root is the same for every worker of this run only
    shared = tmp_path_factory.getbasetemp().parent if "PYTEST_XDIST_WORKER" in os.environ else None
    v = Validator(shared)
    yield v
    v.close()
