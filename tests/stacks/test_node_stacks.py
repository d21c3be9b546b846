"""Node ORMs and migration tools (Sequelize, TypeORM, knex over tedious 19), unmodified, as the identities `azsqlctl grant` made.

Each scenario of tests/stacks/node/stacks.js runs in its own node process with the access token of one
identity (from the sandbox's managed-identity endpoint through azure-identity), so the tools' own
connection pools, schema builders, migrators and repositories do all the talking.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from tests import npm_trees

from .conftest import MIGRATOR, READER, WRITER, Stack

pytestmark = pytest.mark.slow

NODE_DIR = npm_trees.STACKS
DENIED_INSERT = "The INSERT permission was denied on the object '{table}', database 'appdb', schema 'dbo'."
DENIED_CREATE = "CREATE TABLE permission denied in database 'appdb'."


@pytest.fixture(scope="module", autouse=True)
def node_modules() -> None:
    npm_trees.ensure(NODE_DIR, "typeorm")


def scenario(stack: Stack, name: str, identity: str) -> dict[str, Any]:
    env = {**os.environ, "SQL_TOKEN": stack.clients.token(identity)}
    proc = subprocess.run(
        [npm_trees.node(), "stacks.js", name], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["ok"], json.dumps(result, indent=1) + proc.stderr[-4000:]
    return result


def test_sequelize(stack: Stack) -> None:
    migrated = scenario(stack, "sequelize-migrate", MIGRATOR)
    assert migrated["version"].startswith("12.0.")  # authenticate's version probe (it uses REVERSE) answered
    assert "isbn" not in migrated["before"] and migrated["after"] == ["authorId", "createdAt", "id", "isbn", "pages", "title", "updatedAt"]
    assert "ix_sq_books_title" in migrated["indexes"]
    assert migrated["fks"] == [["authorId", "sq_authors", "id"]]
    written = scenario(stack, "sequelize-write", WRITER)
    assert written["ids"] == [1, 2] and written["bookIds"] == [1, 2, 3] and written["updated"] == 1
    assert written["duplicate"]["number"] == 2601 and "uq_sq_authors_name" in written["duplicate"]["message"]  # a unique index
    read = scenario(stack, "sequelize-read", READER)
    assert read["rows"] == [["One", "978-1", "Ann"], ["Two", None, "Ann"]]  # Bob's book went with Bob (ON DELETE CASCADE)
    assert read["denied"] == {"name": read["denied"]["name"], "number": 229, "message": DENIED_INSERT.format(table="sq_authors")}
    assert scenario(stack, "sequelize-writer-sync", WRITER)["denied"]["message"] == DENIED_CREATE


def test_typeorm(stack: Stack) -> None:
    migrated = scenario(stack, "typeorm-migrate", MIGRATOR)
    assert migrated["ran"] == ["AddNotes1700000000000"]
    assert migrated["tables"] == ["to_customers", "to_notes", "to_orders"] and migrated["after"] == ["to_customers", "to_orders"]
    assert migrated["pending"] == []  # a second synchronize finds the schema exactly as the entities say
    written = scenario(stack, "typeorm-write", WRITER)
    assert written["ids"] == [1, 2] and len(written["orderId"]) == 36 and written["placed"] and written["vip"] is False
    assert written["duplicate"]["number"] == 2627
    read = scenario(stack, "typeorm-read", READER)
    assert read["orders"] == [[12.5, "Ann B.", False]]  # tedious reads decimal as a JS number
    assert read["denied"]["number"] == 229 and read["denied"]["message"] == DENIED_INSERT.format(table="to_customers")
    assert scenario(stack, "typeorm-writer-sync", WRITER)["denied"]["message"] == DENIED_CREATE


def test_knex(stack: Stack) -> None:
    migrated = scenario(stack, "knex-migrate", MIGRATOR)
    assert migrated["applied"] == ["001_tags", "002_links"] and migrated["rolledBack"] == ["002_links", "001_tags"]
    assert migrated["columns"] == ["color", "id", "label", "slug", "weight"] and migrated["hasLinks"] is True
    assert migrated["afterRollback"] == {"links": False, "color": False}
    written = scenario(stack, "knex-write", WRITER)
    assert written["ids"] == [1, 2] and written["updated"] == 1 and written["deleted"] == 1
    assert written["duplicate"]["number"] == 2601 and "uq_kx_tags_slug" in written["duplicate"]["message"]  # a unique index
    assert written["orphan"]["number"] == 547
    read = scenario(stack, "knex-read", READER)
    assert read["rows"] == [["db", 1, "blue", "https://a"]]
    # knex puts the statement before the server's message: "<sql> - <message>".
    assert read["denied"]["number"] == 229 and read["denied"]["message"].endswith(DENIED_INSERT.format(table="kx_tags"))
    assert read["ddl"]["message"].endswith(DENIED_CREATE)
    assert scenario(stack, "knex-writer-ddl", WRITER)["denied"]["message"].endswith(DENIED_CREATE)
