"""The sandbox as Azure SQL Database: ``endpoint`` (logins and sessions), ``sqltypes`` (the type model the
engine and the wire share), ``tds/`` (wire only), ``engine/`` (statements → store, typed results),
``catalog/`` (sys.* and INFORMATION_SCHEMA) and ``security/`` (the sandbox's own rules).
"""
