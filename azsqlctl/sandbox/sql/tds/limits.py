"""What one TDS client may make the sandbox hold or wait for, with the real service's value where one exists.

Every limit is checked while the bytes arrive, never after buffering them: a message over its
limit is refused as Azure SQL refuses it (an error token, the session kept) or the connection is
closed where Azure closes it (anything before the login completes, a broken packet stream).
"""

from __future__ import annotations

from dataclasses import dataclass

# [MS-TDS] 2.2.6.4: "The length of a LOGIN7 stream MUST NOT be longer than 128K-1(byte) bytes."
MAX_LOGIN7_BYTES = 128 * 1024 - 1
# SQL Server's maximum capacity specifications: "Batch size: 65,536 * Network Packet Size", the
# most packets one request may span (an RPC's parameters count the same way).
MAX_REQUEST_PACKETS = 65_536


@dataclass(frozen=True)
class TdsLimits:
    # PRELOGIN carries its options (a few dozen bytes) and, for TDS 7.x, the client's TLS handshake
    # records (one TLS record is at most 16 KiB + 5). No published Azure value: 64 KiB holds any
    # real flight with room to spare; over it the connection is closed, as before any login.
    prelogin_bytes: int = 64 * 1024
    login7_bytes: int = MAX_LOGIN7_BYTES
    # FEDAUTH_TOKEN ([MS-TDS] 2.2.6.3) has no stated bound; it carries the token LOGIN7 would have
    # carried, so it gets LOGIN7's.
    fedauth_token_bytes: int = MAX_LOGIN7_BYTES
    # After login Azure accepts a request of up to 65,536 packets of the negotiated size (256 MB at
    # 4096 bytes, 2 GB at 32767). The sandbox holds at most this much of one request in memory;
    # a bigger one (up to Azure's packet count) is read and discarded, then answered with error 701,
    # as SQL Server answers a batch it has no memory for; past Azure's count the connection closes.
    request_bytes: int = 64 * 1024 * 1024
    # The longest PLP value one RPC parameter may declare: varchar(max)/varbinary(max) hold 2^31-1 bytes.
    plp_bytes: int = 2**31 - 1
    # A connection that has not completed its login by then is closed. Azure publishes no gateway
    # value; every driver's own login timeout is shorter (ODBC and .NET 15 s, JDBC 30 s).
    login_timeout: float = 60.0
    # Azure SQL's gateway (proxy connection policy) closes a session with no request for 30 minutes.
    idle_timeout: float = 30 * 60.0
    # A client that stops reading its results: a send blocked this long ends the session.
    send_timeout: float = 120.0
    # Connections served at once (one thread each). Azure SQL allows 30,000 concurrent sessions per
    # database; the sandbox closes a connection over this many at once rather than grow without bound.
    max_connections: int = 1024
