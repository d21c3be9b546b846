"""The sandbox's T-SQL front end: batches, queries and DML on user tables, permissions, catalog views.

Modules, by what they do: ``batch`` (splitting a batch into statements), ``translate``
(sqlglot's T-SQL trees to SQLite), ``session`` (running a session's statements and
transactions), ``permissions`` (SQL Server's permission checks), ``catalog`` (catalog
views and table-valued functions), ``connect`` (what clients ask on connect),
``storage`` (the SQLite files holding user tables), ``types`` (SQL Server types over
SQLite), ``errors`` (SQL Server's error numbers and texts).
"""
