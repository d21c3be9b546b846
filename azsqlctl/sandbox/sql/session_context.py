"""What the SQL surface knows about a logged-in session: the contract between the wire (``tds``), the endpoint
that admits logins and the engine that runs the session's statements.

Here, beside ``sqltypes``, so that the engine imports nothing from ``tds`` and ``tds`` only the engine's results.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SessionContext:
    """What the backend knows about a logged-in session."""

    spid: int
    client_ip: str
    database: str
    principal: str = ""
    transaction: bytes | None = None  # 8-byte descriptor while a transaction is open
    extra: dict[str, object] = field(default_factory=dict)
