"""Microsoft's Kusto language service (validate.js), one process per test session (per xdist worker).

Every module here validates through the same process: a node start-up with the service's scripts, grammar
and JIT warm-up is ~1.5-2.5 s of CPU, paid once rather than per module. The service keeps no state between
queries (each is parsed and analysed on its own against the same schema), so sharing it changes no result.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import npm_trees
from tests.kusto.language_service import Validator

collect_ignore = ["node_modules"]


@pytest.fixture(scope="session")
def validator() -> Iterator[Validator]:
    """Microsoft's Kusto language service, locked in tests/kusto (installed on first use, never skipped)."""
    npm_trees.ensure(npm_trees.KUSTO, "@kusto/language-service-next")
    v = Validator()
    yield v
    v.close()
