"""TDS packets ([MS-TDS] 2.2.3): the 8-byte header and framing, the one framer both sides use.

Every message is a series of packets: type, status, big-endian length (header included), SPID,
packet id, window. The client's probe (azure/network.py) and the sandbox's server
(sandbox/sql/tds/wire.py) frame and read packets here.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

HEADER = struct.Struct(">BBHHBB")  # type, status, length (big-endian), SPID, packet id, window

# Packet types ([MS-TDS] 2.2.3.1.1)
SQL_BATCH = 0x01
RPC = 0x03
TABULAR_RESULT = 0x04
ATTENTION = 0x06
FEDAUTH_TOKEN = 0x08
TRANSACTION_MANAGER = 0x0E
LOGIN7 = 0x10
PRELOGIN = 0x12

# Status bits ([MS-TDS] 2.2.3.1.2)
STATUS_EOM = 0x01
STATUS_RESETCONNECTION = 0x08
STATUS_RESETCONNECTIONSKIPTRAN = 0x10

DEFAULT_PACKET_SIZE = 4096


class FramingError(ValueError):
    """A packet header that cannot be right (a length shorter than the header itself)."""


def frame(ptype: int, payload: bytes, packet_id: int = 1, *, status: int = STATUS_EOM, spid: int = 0) -> bytes:
    """One packet: the header, then ``payload`` (which must fit in one packet)."""
    return HEADER.pack(ptype, status, len(payload) + HEADER.size, spid, packet_id % 256, 0) + payload


def frames(ptype: int, payload: bytes, packet_size: int = DEFAULT_PACKET_SIZE, spid: int = 0) -> bytes:
    """A whole message: ``payload`` cut into packets of at most ``packet_size`` bytes, EOM on the last."""
    room = packet_size - HEADER.size
    chunks = [payload[i : i + room] for i in range(0, len(payload), room)] or [b""]
    last = len(chunks) - 1
    return b"".join(frame(ptype, chunk, i + 1, status=STATUS_EOM if i == last else 0, spid=spid) for i, chunk in enumerate(chunks))


def read_packet(recv_exact: Callable[[int], bytes]) -> tuple[int, int, bytes]:
    """(type, status, payload) of the next packet, read through ``recv_exact(n)``."""
    ptype, status, length, _spid, _packet_id, _window = HEADER.unpack(recv_exact(HEADER.size))
    if length < HEADER.size:
        raise FramingError(f"bad TDS packet length {length}")
    return ptype, status, recv_exact(length - HEADER.size)
