"""Node ORMs and migration tools (Sequelize, TypeORM, knex over tedious 19), unmodified, as the identities `azsqlctl grant` made.

Each scenario of tests/stacks/node/stacks.js runs with the access token of one identity (from the sandbox's
managed-identity endpoint through azure-identity) and builds its own Sequelize, DataSource or knex instance, so
the tools' own connection pools, schema builders, migrators and repositories do all the talking. The scenarios
share one long-lived node process (stacks.js --serve): node and the tools load once per module, not per scenario.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests import npm_trees
from tests.line_server import LineServer

from .conftest import MIGRATOR, READER, WRITER, Stack

pytestmark = pytest.mark.slow

NODE_DIR = npm_trees.STACKS
DENIED_INSERT = "The INSERT permission was denied on the object '{table}', database 'appdb', schema 'dbo'."
DENIED_CREATE = "CREATE TABLE permission denied in database 'appdb'."


@pytest.fixture(scope="module", autouse=True)
def node_modules() -> None:
    npm_trees.ensure(NODE_DIR, "typeorm")


Scenario = Callable[[str, str], dict[str, Any]]


@pytest.fixture(scope="module")
def scenario(stack: Stack) -> Iterator[Scenario]:
    """Runs a stacks.js scenario as an identity (its token in SQL_TOKEN); its answer must be ok."""
    server = LineServer([npm_trees.node(), "stacks.js", "--serve"], NODE_DIR, dict(os.environ), answer_prefix=b'{"ok":')

    def run(name: str, identity: str) -> dict[str, Any]:
        result = server.ask({"scenario": name, "env": {"SQL_TOKEN": stack.clients.token(identity)}}, timeout=120)
        assert result["ok"], json.dumps(result, indent=1) + server.stderr()
        return result

    yield run
    server.close()


def test_sequelize(scenario: Scenario) -> None:
    migrated = scenario("sequelize-migrate", MIGRATOR)
    assert migrated["version"].startswith("12.0.")  # authenticate's version probe (it uses REVERSE) answered
    assert "isbn" not in migrated["before"] and migrated["after"] == ["authorId", "createdAt", "id", "isbn", "pages", "title", "updatedAt"]
    assert "ix_sq_books_title" in migrated["indexes"]
    assert migrated["fks"] == [["authorId", "sq_authors", "id"]]
    written = scenario("sequelize-write", WRITER)
    assert written["ids"] == [1, 2] and written["bookIds"] == [1, 2, 3] and written["updated"] == 1
    assert written["duplicate"]["number"] == 2601 and "uq_sq_authors_name" in written["duplicate"]["message"]  # a unique index
    read = scenario("sequelize-read", READER)
    assert read["rows"] == [["One", "978-1", "Ann"], ["Two", None, "Ann"]]  # Bob's book went with Bob (ON DELETE CASCADE)
    assert read["denied"] == {"name": read["denied"]["name"], "number": 229, "message": DENIED_INSERT.format(table="sq_authors")}
    assert scenario("sequelize-writer-sync", WRITER)["denied"]["message"] == DENIED_CREATE


def test_typeorm(scenario: Scenario) -> None:
    migrated = scenario("typeorm-migrate", MIGRATOR)
    assert migrated["ran"] == ["AddNotes1700000000000"]
    assert migrated["tables"] == ["to_customers", "to_notes", "to_orders"] and migrated["after"] == ["to_customers", "to_orders"]
    assert migrated["pending"] == []  # a second synchronize finds the schema exactly as the entities say
    written = scenario("typeorm-write", WRITER)
    assert written["ids"] == [1, 2] and len(written["orderId"]) == 36 and written["placed"] and written["vip"] is False
    assert written["duplicate"]["number"] == 2627
    read = scenario("typeorm-read", READER)
    assert read["orders"] == [[12.5, "Ann B.", False]]  # tedious reads decimal as a JS number
    assert read["denied"]["number"] == 229 and read["denied"]["message"] == DENIED_INSERT.format(table="to_customers")
    assert scenario("typeorm-writer-sync", WRITER)["denied"]["message"] == DENIED_CREATE


def test_knex(scenario: Scenario) -> None:
    migrated = scenario("knex-migrate", MIGRATOR)
    assert migrated["applied"] == ["001_tags", "002_links"] and migrated["rolledBack"] == ["002_links", "001_tags"]
    assert migrated["columns"] == ["color", "id", "label", "slug", "weight"] and migrated["hasLinks"] is True
    assert migrated["afterRollback"] == {"links": False, "color": False}
    written = scenario("knex-write", WRITER)
    assert written["ids"] == [1, 2] and written["updated"] == 1 and written["deleted"] == 1
    assert written["duplicate"]["number"] == 2601 and "uq_kx_tags_slug" in written["duplicate"]["message"]  # a unique index
    assert written["orphan"]["number"] == 547
    read = scenario("knex-read", READER)
    assert read["rows"] == [["db", 1, "blue", "https://a"]]
    # knex puts the statement before the server's message: "<sql> - <message>".
    assert read["denied"]["number"] == 229 and read["denied"]["message"].endswith(DENIED_INSERT.format(table="kx_tags"))
    assert read["ddl"]["message"].endswith(DENIED_CREATE)
    assert scenario("knex-writer-ddl", WRITER)["denied"]["message"].endswith(DENIED_CREATE)
