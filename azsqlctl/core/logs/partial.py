"""The warning for a result with rows missing: which workspace(s), why, and what to do, in a user's words.

A per-workspace refusal (``logs --policy`` asks each workspace alone after the joint request was refused) and the
service's own partial answer both end here; the CLI prints the sentence on stderr and, with ``-o json``, the
warning object on stdout. No SDK names: a user reads "workspace X was left out because ...", not an enum.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .ports import LogsTarget, PartialFailure, PartialReason


@dataclass(frozen=True)
class PartialWarning:
    message: str
    workspaces: tuple[str, ...]  # the workspaces (or resource) whose rows are missing, in the order they were asked

    def as_json(self) -> dict[str, object]:
        return {"type": "warning", "code": "partial_result", "message": self.message, "workspaces": list(self.workspaces)}


def _one(failure: PartialFailure, target: LogsTarget | None) -> str:
    w = failure.workspace
    plain = "the query" if not w else f"resource {w}" if w.startswith("/") else f"workspace {w}"
    servers = target.servers_of(w) if target is not None and w else ()
    # Users think in servers: say whose failed logins these are, when discovery knows it.
    where = plain + (f" (where {', '.join(servers)} send{'s' if len(servers) == 1 else ''} failed logins)" if servers else "")
    subject = where[0].upper() + where[1:]
    detail = failure.detail.rstrip(". ") or "no detail given"
    if failure.reason is PartialReason.NO_ACCESS:
        return (
            f"{subject} was left out because this identity may not read it ({detail}). The rows shown come from the other "
            f"workspace(s) only; to include it, give the identity the Log Analytics Reader role on {plain} and run the command again."
        )
    if failure.reason is PartialReason.NOT_FOUND:
        server = servers[0] if len(servers) == 1 else "SERVER"
        return (
            f"{subject} was left out because Log Analytics does not know it ({detail}). The rows shown come from the other "
            "workspace(s) only; a server's diagnostic setting may still send to a deleted workspace: check it with "
            f"azsqlctl logs status --server {server}."
        )
    return (
        f"Log Analytics returned only part of the rows from {where} ({detail}). The rows shown are that part; "
        "narrow the query (--since, --database, --principal) and run it again for all of them."
    )


def partial_warning(failures: Sequence[PartialFailure], target: LogsTarget | None = None) -> PartialWarning | None:
    """None when nothing is missing; else one warning naming every workspace left out or cut short (and, when the
    target knows it, the servers auditing there)."""
    if not failures:
        return None
    text = " ".join(_one(f, target) for f in failures)
    return PartialWarning(f"Some rows are missing. {text}", tuple(dict.fromkeys(f.workspace for f in failures)))
