"""The catalog: sys.* views and INFORMATION_SCHEMA as relations the engine queries like tables.

``model`` (what a view is: typed columns and the rows it computes from a ``CatalogContext``),
``relations`` (the registry the engine materialises per statement, session views), ``schema_views``
(tables, columns, indexes, constraints, views from one schema model), ``security_views`` (principals,
role members, permissions, schemas from the state) and ``metadata_functions`` (OBJECT_ID, COLUMNPROPERTY
… with metadata visibility).
"""
