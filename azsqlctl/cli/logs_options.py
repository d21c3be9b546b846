"""The options of `azsqlctl logs` (shared ones are in options.py)."""

from __future__ import annotations

from typing import Annotated

import typer

WHERE = "Where the rows are"
WHEN = "Time window"
FILTER = "Filters"
VIEW = "View"

Workspace = Annotated[
    str | None,
    typer.Option("--workspace", metavar="GUID", help="Log Analytics workspace id (customer id GUID) \\[default: found from the server's diagnostic setting]",
                 rich_help_panel=WHERE, show_default=False),
]  # fmt: skip
Resource = Annotated[
    str | None,
    typer.Option("--resource", metavar="ARM_ID", help="Resource-centric query: the ARM id of the server or one of its databases", rich_help_panel=WHERE,
                 show_default=False),
]  # fmt: skip
Since = Annotated[
    str | None,
    typer.Option(
        "--since", metavar="DURATION", help="How far back: 30s, 15m, 1h30m, 2d \\[default 1h]", rich_help_panel=WHEN, show_default=False
    ),
]
SinceTime = Annotated[
    str | None, typer.Option("--since-time", metavar="TIME", help="Start at an RFC 3339 time", rich_help_panel=WHEN, show_default=False)
]
Until = Annotated[
    str | None,
    typer.Option(
        "--until", metavar="TIME|DURATION", help="Stop at an RFC 3339 time, or a duration ago", rich_help_panel=WHEN, show_default=False
    ),
]
Follow = Annotated[
    bool, typer.Option("--follow", "-f", help="Keep polling for new rows (Ctrl-C stops with a summary)", rich_help_panel=WHEN)
]
Interval = Annotated[str, typer.Option("--interval", metavar="DURATION", help="--follow: time between polls", rich_help_panel=WHEN)]
LateBound = Annotated[
    str,
    typer.Option(
        "--late-bound", metavar="DURATION", help="--follow: rows arriving up to this late still print in order", rich_help_panel=WHEN
    ),
]
Overlap = Annotated[
    str,
    typer.Option(
        "--overlap",
        metavar="DURATION",
        help="--follow: how much consecutive ingestion windows overlap (the lag between a row's ingestion_time() and its visibility)",
        rich_help_panel=WHEN,
    ),
]
Principal = Annotated[
    str | None, typer.Option("--principal", metavar="LOGIN", help="Only this login name", rich_help_panel=FILTER, show_default=False)
]
ClientIp = Annotated[
    str | None, typer.Option("--client-ip", metavar="IP", help="Only this client address", rich_help_panel=FILTER, show_default=False)
]
AppName = Annotated[
    str | None, typer.Option("--app", metavar="TEXT", help="Application name contains this", rich_help_panel=FILTER, show_default=False)
]
Error = Annotated[
    str | None,
    typer.Option("--error", metavar="NUMBER", help="Only this error number (e.g. 18456)", rich_help_panel=FILTER, show_default=False),
]
State = Annotated[
    str | None,
    typer.Option("--state", metavar="NUMBER", help="Only this real state (e.g. 5, 133)", rich_help_panel=FILTER, show_default=False),
]
DatabaseFilter = Annotated[
    str | None, typer.Option("--database", "-d", metavar="NAME", help="Only this database", rich_help_panel=FILTER, show_default=False)
]
AllEvents = Annotated[bool, typer.Option("--all-events", help="Successful logins too (marked as such)", rich_help_panel=FILTER)]
Summary = Annotated[bool, typer.Option("--summary", help="Aggregate in Kusto: top offenders with cause and hint", rich_help_panel=VIEW)]
By = Annotated[
    str | None,
    typer.Option(
        "--by",
        metavar="KEYS",
        help="--summary keys, comma-separated: principal, error, state, client_ip, app, database, server",
        rich_help_panel=VIEW,
        show_default=False,
    ),
]
Limit = Annotated[
    str | None,
    typer.Option("--limit", metavar="N", help="At most N events (the newest) or groups", rich_help_panel=VIEW, show_default=False),
]
Redact = Annotated[bool, typer.Option("--redact", help="Mask principals and client IPs (stable per run) for sharing", rich_help_panel=VIEW)]
ShowQuery = Annotated[bool, typer.Option("--show-query", help="Print the KQL instead of running it", rich_help_panel=VIEW)]
