"""PRELOGIN ([MS-TDS] 2.2.6.5) encoding and decoding (packets are framed by protocol/tds.py).

Shared by the client-side network probe (doctor) and the sandbox's server side.
"""

from __future__ import annotations

import struct

# PRELOGIN option tokens
PL_VERSION = 0x00
PL_ENCRYPTION = 0x01
PL_INSTOPT = 0x02
PL_THREADID = 0x03
PL_MARS = 0x04
PL_TRACEID = 0x05
PL_FEDAUTHREQUIRED = 0x06
PL_NONCE = 0x07
PL_TERMINATOR = 0xFF

ENCRYPT_OFF = 0x00
ENCRYPT_ON = 0x01
ENCRYPT_NOT_SUP = 0x02
ENCRYPT_REQ = 0x03
ENCRYPT_STRICT = 0x08


def parse_prelogin(body: bytes) -> dict[int, bytes]:
    options: dict[int, bytes] = {}
    pos = 0
    while pos < len(body) and body[pos] != PL_TERMINATOR:
        token, offset, length = struct.unpack_from(">BHH", body, pos)
        options[token] = body[offset : offset + length]
        pos += 5
    return options


def build_prelogin(options: list[tuple[int, bytes]]) -> bytes:
    header_len = 5 * len(options) + 1
    head = bytearray()
    data = bytearray()
    for token, value in options:
        head += struct.pack(">BHH", token, header_len + len(data), len(value))
        data += value
    head.append(PL_TERMINATOR)
    return bytes(head + data)


def client_prelogin(encrypt: int, fedauth: bool = True) -> bytes:
    """What ODBC Driver 18 sends: version, encryption, instance, thread id, MARS, FEDAUTHREQUIRED."""
    options = [
        (PL_VERSION, bytes([18, 6, 0, 2, 0, 0])),
        (PL_ENCRYPTION, bytes([encrypt])),
        (PL_INSTOPT, b"\x00"),
        (PL_THREADID, b"\x00\x00\x00\x00"),
        (PL_MARS, b"\x00"),
    ]
    if fedauth:
        options.append((PL_FEDAUTHREQUIRED, b"\x01"))
    return build_prelogin(options)


def server_version(options: dict[int, bytes]) -> str:
    raw = options.get(PL_VERSION, b"")
    if len(raw) < 4:
        return ""
    return f"{raw[0]}.{raw[1]}.{struct.unpack('>H', raw[2:4])[0]}"
