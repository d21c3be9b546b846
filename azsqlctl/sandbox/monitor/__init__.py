"""The sandbox as Azure Monitor: the Log Analytics query endpoint (``loganalytics``) with its KQL engine
(``kusto``, ``kusto_lex``, ``kusto_ops``), the audit trail (``audit``) and the monitoring world (``state``)."""
