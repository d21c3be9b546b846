"""The sandbox: a local stand-in for the Azure surfaces azsqlctl talks to, one package per surface.

Each surface answers the way Azure answers (error numbers, texts, JSON shapes) to the real SDKs, the
real ODBC driver and third-party clients over sockets. No module imports in a circle, none uses another's
private names, and only ``sql/tds`` encodes TDS (tests/unit/test_sandbox_layout.py enforces all three):
``serve``/``surfaces`` compose the surfaces; a surface imports the shared infrastructure, Entra's token
issuer (``entra.tokens``) and, for the SQL surface, the audit trail it writes; the persisted state
(``state``, ``store``) holds the surfaces' plain data types (``entra.apps_state``, ``monitor.state``,
``monitor.audit``), which import nothing above them.

Shared infrastructure (top level)
    ``serve`` (the ``Sandbox`` that starts and stops everything), ``surfaces`` (each surface's start,
    stop, env and fault kinds), ``scenarios`` (named starting states), ``state`` (the persisted world:
    servers, databases, identities, principals) and ``store`` (its transactional file), ``http``
    (the HTTPS endpoint base), ``faults`` (injected failures), ``certs`` (CA and TLS certificates),
    ``internal_errors`` (one log line for a sandbox bug).

``entra/`` Microsoft Entra ID
    ``identity_endpoint`` (the managed-identity endpoint), ``tokens`` (the RS256 access tokens every
    surface issues and checks), ``authority`` (OpenID configuration, token endpoint), app
    registrations (``apps_state``, ``registry``, ``manage``), ``assertions``, ``federation``
    (GitHub-, AKS- and Pipelines-like issuers) and ``jobs``.

``sql/`` Azure SQL Database
    ``endpoint`` (logins: firewall, token checks, sessions), ``sqltypes`` (SQL Server's types) and
    ``session_context`` (a logged-in session): the contracts the wire, the endpoint and the engine share;
    the wire depends on the engine's results, the engine on nothing of the wire; and
    ``tds/``      the wire only: packets, PRELOGIN/LOGIN7, RPC decoding, type codecs, and ``results``,
                  the one module that encodes the engine's typed results as TDS tokens;
    ``engine/``   statements → store: ``batch`` and ``lexer`` (splitting), ``translate`` (T-SQL → SQLite),
                  ``session`` (a session's batches and transactions), DDL, DML, queries, procedures,
                  ``locks``/``applock``/``undo``, ``storage``; it returns typed results (``results``:
                  columns, rows, messages, row counts) and never encodes TDS; the statement modules
                  see their session through ``context`` (a Protocol), so nothing imports in a circle;
    ``catalog/``  sys.* and INFORMATION_SCHEMA as relations the engine queries (``model``: what a view
                  is; ``relations``, ``schema_views``, ``security_views``) and the metadata built-ins
                  (OBJECT_ID …);
    ``security/`` the sandbox's own rules from Microsoft's docs: ``roles``, ``permissions`` (checks),
                  ``firewall``, ``login_messages``.

``arm/`` Azure Resource Manager
    ``endpoint`` (the ARM endpoint and Microsoft.Sql), ``monitoring`` (auditing and diagnostic
    settings, workspaces), ``resourcegraph`` (Resource Graph queries over a fleet).

``monitor/`` Azure Monitor
    ``loganalytics`` (the query endpoint), ``kusto``/``kusto_lex``/``kusto_ops`` (its KQL engine),
    ``audit`` (the audit trail's store), ``state`` (workspace, auditing policy, diagnostic setting).

``dns/`` the private DNS the surfaces' host names resolve through (``endpoint``).
"""
