"""The sandbox's T-SQL engine: statements → store, with typed results and SQL Server's errors.

``batch`` and ``lexer`` split a batch into statements; ``translate`` turns sqlglot's T-SQL trees into
SQLite; ``session`` runs a session's batches and transactions over ``storage`` (the SQLite files),
``locks``, ``applock`` and ``undo``; ``queries``, ``dml``, the DDL modules (``table_ddl``, ``alter_ddl``,
``schema_ddl``, ``principal_ddl``, ``views``, ``table_variables``, ``ownership``: who owns a schema or an
object, and ALTER AUTHORIZATION) and ``procedures`` execute
statements; ``functions``/``scalar_functions``/``connect`` are the built-ins; ``types`` maps SQL
Server's types over SQLite; ``errors`` holds SQL Server's numbers and texts. The statement modules
reach their session only through ``context`` (a Protocol that ``session`` implements), never by
importing ``session``. What a statement returns is a typed result (``results``); only ``sql/tds``
turns it into bytes.
"""
