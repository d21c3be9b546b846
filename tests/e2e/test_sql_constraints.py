"""DDL and constraints ORMs emit, enforced through the real driver with SQL Server's error numbers and texts.

The expected texts are written out from SQL Server's message templates (sys.messages: 515, 547, 1505,
2601, 2627, 3723, 5074, 1913), filled in the way the engine fills them.
"""

from __future__ import annotations

from typing import Any

import pytest

from azsqlctl.sandbox.serve import Sandbox
from tests.conftest import raw_connect

from .test_sql_frontend import error_of
from .test_sql_permissions import connect_as, token_for


@pytest.fixture
def cur(sandbox: Sandbox, client_env: dict[str, str]) -> Any:
    del client_env
    cnxn = raw_connect(sandbox, token_for(sandbox))
    cnxn.autocommit = True
    yield cnxn.cursor()
    cnxn.close()


def test_check_unique_index_and_not_null_are_enforced(cur: Any) -> None:
    cur.execute(
        "CREATE TABLE dbo.items (id INT IDENTITY PRIMARY KEY, sku NVARCHAR(20) NOT NULL, qty INT CONSTRAINT ck_qty CHECK (qty >= 0), "
        "code NVARCHAR(10) NULL)"
    )
    cur.execute("CREATE UNIQUE INDEX ix_items_sku ON dbo.items (sku)")
    cur.execute("CREATE UNIQUE NONCLUSTERED INDEX ix_items_code ON dbo.items (code) WHERE code IS NOT NULL")
    cur.execute("INSERT INTO dbo.items (sku, qty) VALUES ('a', 1), ('b', 2)")  # two NULL codes: the filtered index skips them
    assert (
        "Cannot insert duplicate key row in object 'dbo.items' with unique index 'ix_items_sku'. The duplicate key value is (a). (2601)"
        in error_of(cur, "INSERT INTO dbo.items (sku, qty) VALUES ('a', 3)")
    )
    assert (
        'The INSERT statement conflicted with the CHECK constraint "ck_qty". The conflict occurred in database "appdb", '
        "table \"dbo.items\", column 'qty'. (547)" in error_of(cur, "INSERT INTO dbo.items (sku, qty) VALUES ('c', -1)")
    )
    assert 'UPDATE statement conflicted with the CHECK constraint "ck_qty"' in error_of(cur, "UPDATE dbo.items SET qty = -5")
    assert (
        "Cannot insert the value NULL into column 'sku', table 'appdb.dbo.items'; column does not allow nulls. INSERT fails. (515)"
        in error_of(cur, "INSERT INTO dbo.items (qty) VALUES (1)")
    )
    assert "(3723)" not in error_of(cur, "DROP INDEX ix_missing ON dbo.items")
    cur.execute("DROP INDEX ix_items_sku ON dbo.items")
    cur.execute("INSERT INTO dbo.items (sku, qty) VALUES ('a', 3)")  # the index is gone: duplicates are allowed again
    assert "(1505)" in error_of(cur, "CREATE UNIQUE INDEX ix_items_sku ON dbo.items (sku)")
    assert (
        cur.execute("SELECT COUNT(*) FROM sys.indexes WHERE object_id = OBJECT_ID('dbo.items') AND name = 'ix_items_sku'").fetchval() == 0
    )


def test_alter_table_constraints_rebuild_and_check_existing_rows(cur: Any) -> None:
    cur.execute("CREATE TABLE dbo.parents (id INT NOT NULL, name NVARCHAR(30) NULL)")
    cur.execute("CREATE TABLE dbo.kids (id INT IDENTITY PRIMARY KEY, parent_id INT NULL, label NVARCHAR(5) NULL)")
    cur.execute("INSERT INTO dbo.parents (id, name) VALUES (1, 'one'), (2, 'two')")
    cur.execute("ALTER TABLE dbo.parents ADD CONSTRAINT pk_parents PRIMARY KEY (id)")
    assert (
        "Violation of PRIMARY KEY constraint 'pk_parents'. Cannot insert duplicate key in object 'dbo.parents'. "
        "The duplicate key value is (1). (2627)" in error_of(cur, "INSERT INTO dbo.parents (id) VALUES (1)")
    )
    cur.execute("INSERT INTO dbo.kids (parent_id, label) VALUES (1, 'a'), (2, 'b'), (NULL, 'c')")
    cur.execute("ALTER TABLE dbo.kids ADD CONSTRAINT fk_kids_parents FOREIGN KEY (parent_id) REFERENCES dbo.parents (id) ON DELETE CASCADE")
    assert (
        'The INSERT statement conflicted with the FOREIGN KEY constraint "fk_kids_parents". The conflict occurred in database "appdb", '
        "table \"dbo.parents\", column 'id'. (547)" in error_of(cur, "INSERT INTO dbo.kids (parent_id) VALUES (9)")
    )
    cur.execute("DELETE FROM dbo.parents WHERE id = 1")  # ON DELETE CASCADE
    assert [r.label for r in cur.execute("SELECT label FROM dbo.kids ORDER BY id")] == ["b", "c"]
    # A constraint the existing rows break is refused, and the table keeps its shape.
    cur.execute("INSERT INTO dbo.kids (parent_id, label) VALUES (2, 'bad')")
    assert 'The ALTER TABLE statement conflicted with the CHECK constraint "ck_label"' in error_of(
        cur, "ALTER TABLE dbo.kids ADD CONSTRAINT ck_label CHECK (label <> 'bad')"
    )
    cur.execute("DELETE FROM dbo.kids WHERE label = 'bad'")
    cur.execute("ALTER TABLE dbo.kids ADD CONSTRAINT ck_label CHECK (label <> 'bad')")
    assert "(547)" in error_of(cur, "INSERT INTO dbo.kids (parent_id, label) VALUES (2, 'bad')")
    cur.execute("ALTER TABLE dbo.kids DROP CONSTRAINT ck_label")
    cur.execute("INSERT INTO dbo.kids (parent_id, label) VALUES (2, 'bad')")
    # The IDENTITY keeps counting across the rebuilds.
    assert cur.execute("SELECT MAX(id) FROM dbo.kids").fetchval() == 5
    assert cur.execute("SELECT IDENT_CURRENT('dbo.kids')").fetchval() == 5
    # Named DEFAULT, ALTER COLUMN (with conversion and truncation), dependent objects.
    cur.execute("ALTER TABLE dbo.kids ADD CONSTRAINT df_kids_label DEFAULT N'none' FOR label")
    cur.execute("INSERT INTO dbo.kids (parent_id) VALUES (2)")
    assert cur.execute("SELECT label FROM dbo.kids WHERE id = 6").fetchval() == "none"
    assert "The object 'df_kids_label' is dependent on column 'label'. (5074)" in error_of(cur, "ALTER TABLE dbo.kids DROP COLUMN label")
    cur.execute("ALTER TABLE dbo.kids DROP CONSTRAINT df_kids_label")
    assert "(2628)" in error_of(cur, "ALTER TABLE dbo.kids ALTER COLUMN label NVARCHAR(3) NULL")  # 'none' does not fit
    cur.execute("UPDATE dbo.kids SET label = LEFT(label, 3)")
    cur.execute("ALTER TABLE dbo.kids ALTER COLUMN label NVARCHAR(3) NULL")
    assert "String or binary data would be truncated" in error_of(cur, "INSERT INTO dbo.kids (label) VALUES (N'toolong')")
    assert (
        "Cannot insert the value NULL into column 'parent_id', table 'appdb.dbo.kids'; column does not allow nulls. UPDATE fails. (515)"
        in error_of(cur, "ALTER TABLE dbo.kids ALTER COLUMN parent_id INT NOT NULL")
    )
    # ALTER COLUMN takes no constraint: SQL Server's syntax error, not an unsupported feature (Sequelize sends it).
    assert "Incorrect syntax near the keyword 'UNIQUE'. (156)" in error_of(
        cur, "ALTER TABLE dbo.kids ALTER COLUMN label NVARCHAR(3) NOT NULL UNIQUE"
    )
    cur.execute("ALTER TABLE dbo.kids DROP COLUMN label")
    assert [r.name for r in cur.execute("SELECT name FROM sys.columns WHERE object_id = OBJECT_ID('dbo.kids') ORDER BY column_id")] == [
        "id",
        "parent_id",
    ]


def test_catalog_is_one_model(cur: Any) -> None:
    cur.execute("CREATE TABLE dbo.authors (id INT IDENTITY PRIMARY KEY, email NVARCHAR(100) NOT NULL CONSTRAINT uq_authors_email UNIQUE)")
    cur.execute(
        "CREATE TABLE dbo.books (id INT IDENTITY PRIMARY KEY, author_id INT NOT NULL, title NVARCHAR(200) NOT NULL DEFAULT N'untitled', "
        "CONSTRAINT fk_books_authors FOREIGN KEY (author_id) REFERENCES dbo.authors (id) ON DELETE SET NULL ON UPDATE CASCADE, "
        "CONSTRAINT ck_books_title CHECK (LEN(title) > 0))"
    )
    cur.execute("CREATE INDEX ix_books_title ON dbo.books (title DESC) INCLUDE (author_id)")
    rows = cur.execute(
        "SELECT fk.name, OBJECT_NAME(fk.parent_object_id) AS child, OBJECT_NAME(fk.referenced_object_id) AS parent, "
        "COL_NAME(fkc.parent_object_id, fkc.parent_column_id) AS col, fk.delete_referential_action_desc, fk.update_referential_action_desc "
        "FROM sys.foreign_keys fk JOIN sys.foreign_key_columns fkc ON fkc.constraint_object_id = fk.object_id"
    ).fetchall()
    assert [tuple(r) for r in rows] == [("fk_books_authors", "books", "authors", "author_id", "SET_NULL", "CASCADE")]
    assert (
        cur.execute(
            "SELECT rc.DELETE_RULE FROM INFORMATION_SCHEMA.REFERENTIAL_CONSTRAINTS rc WHERE rc.CONSTRAINT_NAME = 'fk_books_authors'"
        ).fetchval()
        == "SET NULL"
    )
    kinds = cur.execute(
        "SELECT CONSTRAINT_NAME, CONSTRAINT_TYPE FROM INFORMATION_SCHEMA.TABLE_CONSTRAINTS WHERE TABLE_NAME = 'books' ORDER BY CONSTRAINT_TYPE"
    ).fetchall()
    assert [r[1] for r in kinds] == ["CHECK", "FOREIGN KEY", "PRIMARY KEY"]
    index = cur.execute(
        "SELECT i.is_unique, i.type_desc, ic.is_descending_key, ic.is_included_column, c.name FROM sys.indexes i "
        "JOIN sys.index_columns ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id "
        "JOIN sys.columns c ON c.object_id = ic.object_id AND c.column_id = ic.column_id "
        "WHERE i.name = 'ix_books_title' ORDER BY ic.index_column_id"
    ).fetchall()
    assert [tuple(r) for r in index] == [(False, "NONCLUSTERED", True, False, "title"), (False, "NONCLUSTERED", False, True, "author_id")]
    assert (
        cur.execute("SELECT type_desc FROM sys.objects WHERE object_id = OBJECT_ID('dbo.uq_authors_email')").fetchval()
        == "UNIQUE_CONSTRAINT"
    )
    assert (
        cur.execute("SELECT definition FROM sys.default_constraints WHERE parent_object_id = OBJECT_ID('dbo.books')").fetchval()
        == "(N'untitled')"
    )
    assert cur.execute("SELECT OBJECTPROPERTY(OBJECT_ID('dbo.books'), 'IsUserTable')").fetchval() == 1
    assert cur.execute("SELECT COLUMNPROPERTY(OBJECT_ID('dbo.books'), 'id', 'IsIdentity')").fetchval() == 1
    assert cur.execute("SELECT COLUMNPROPERTY(OBJECT_ID('dbo.books'), 'title', 'AllowsNull')").fetchval() == 0


def test_metadata_visibility_follows_permissions(sandbox: Sandbox, cur: Any) -> None:
    cur.execute("CREATE TABLE dbo.hidden (id INT PRIMARY KEY)")
    cur.execute("CREATE TABLE app.shown (id INT PRIMARY KEY)")
    cur.execute("CREATE USER [billing-worker] FROM EXTERNAL PROVIDER")
    cur.execute("GRANT SELECT ON SCHEMA::app TO [billing-worker]")
    worker = connect_as(sandbox, "billing-worker").cursor()
    assert [r[0] for r in worker.execute("SELECT name FROM sys.tables ORDER BY name")] == ["shown"]
    assert [r[0] for r in worker.execute("SELECT TABLE_NAME FROM INFORMATION_SCHEMA.TABLES")] == ["shown"]
    assert worker.execute("SELECT OBJECT_ID('dbo.hidden')").fetchval() is None
    assert worker.execute("SELECT COUNT(*) FROM sys.key_constraints").fetchval() == 1


def test_unique_keys_let_one_null_in_as_sql_server_does(cur: Any) -> None:
    cur.execute(
        "CREATE TABLE dbo.people (id INT PRIMARY KEY, email NVARCHAR(50) NULL CONSTRAINT uq_people_email UNIQUE, nick NVARCHAR(20) NULL)"
    )
    cur.execute("INSERT INTO dbo.people (id, email) VALUES (1, NULL)")
    assert (
        "Violation of UNIQUE KEY constraint 'uq_people_email'. Cannot insert duplicate key in object 'dbo.people'. "
        "The duplicate key value is (<NULL>). (2627)" in error_of(cur, "INSERT INTO dbo.people (id, email) VALUES (2, NULL)")
    )
    cur.execute("INSERT INTO dbo.people (id, email) VALUES (2, 'a@x.io')")
    assert "(2627)" in error_of(cur, "INSERT INTO dbo.people (id, email) VALUES (3, 'A@X.IO')")  # the collation is case-insensitive
    # Two rows have no nick: a unique index on it cannot be built (NULL equals NULL in a unique index).
    assert "the index name 'ix_people_nick'. (1505)" in error_of(cur, "CREATE UNIQUE INDEX ix_people_nick ON dbo.people (nick)")
    # A filtered unique index (what mssql-django makes for unique=True, null=True) lets any number of NULLs in.
    cur.execute("CREATE UNIQUE INDEX ix_people_nick ON dbo.people (nick) WHERE nick IS NOT NULL")
    cur.execute("INSERT INTO dbo.people (id, email) VALUES (3, 'c@x.io'), (4, 'd@x.io')")
    assert "(1505)" in error_of(cur, "ALTER TABLE dbo.people ADD CONSTRAINT uq_people_nick UNIQUE (nick)")
