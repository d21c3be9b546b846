"""The sandbox as Azure SQL Database: ``endpoint`` (logins and sessions); ``sqltypes`` and ``session_context``
(the type model and the session context the engine and the wire share); ``tds/`` (wire only); ``engine/``
(statements → store, typed results); ``catalog/`` (sys.* and INFORMATION_SCHEMA); ``security/`` (the
sandbox's own rules).
"""
