"""`azsqlctl logs`, the pure core: KQL, audit rows, follow mode.

- ``kql``: the one builder of every query ``logs`` sends (user values only as escaped literals).
- ``audit_rows``: an ``AzureDiagnostics`` row -> a typed ``AuditEvent`` with the real state, cause and fix.
- ``follow``: the ``--follow`` window/dedup/ordering state machine and the retry policy.
- ``summary``: ``--summary`` groups read back from Kusto, with cause, fix and hint.
- ``window``: durations, RFC 3339 times and the event-time window (bad input -> ``UsageError``).

No I/O here: the CLI runs the queries through the ``azure/`` adapter and feeds the rows back in.
"""
