"""PRELOGIN and LOGIN7 decoding/encoding ([MS-TDS] 2.2.6.4 and 2.2.6.5)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from azsqlctl.protocol.prelogin import (
    ENCRYPT_NOT_SUP,
    ENCRYPT_OFF,
    ENCRYPT_ON,
    ENCRYPT_REQ,
    PL_ENCRYPTION,
    PL_FEDAUTHREQUIRED,
    PL_INSTOPT,
    PL_MARS,
    PL_THREADID,
    PL_VERSION,
    build_prelogin,
)

# LOGIN7 feature extension ids
FEATURE_FEDAUTH = 0x02
FEATURE_TERMINATOR = 0xFF
FEDAUTH_LIBRARY_SECURITY_TOKEN = 0x01
FEDAUTH_LIBRARY_MSAL = 0x02  # "ADAL" in [MS-TDS]: the server answers FEDAUTHINFO, the client fetches a token
FEATURE_UTF8_SUPPORT = 0x0A


def prelogin_response(client: dict[int, bytes], strict: bool) -> bytes:
    """Answer as Azure SQL does: encryption on, federated auth required."""
    client_enc = client.get(PL_ENCRYPTION, bytes([ENCRYPT_OFF]))[:1]
    if strict:
        enc = ENCRYPT_NOT_SUP  # TDS 8.0: TLS already wraps everything; the field is ignored
    elif client_enc and client_enc[0] in (ENCRYPT_ON, ENCRYPT_REQ):
        enc = ENCRYPT_ON
    else:
        enc = ENCRYPT_REQ  # Azure refuses unencrypted sessions
    options = [
        (PL_VERSION, bytes([12, 0]) + struct.pack(">H", 2000) + b"\x00\x00"),
        (PL_ENCRYPTION, bytes([enc])),
        (PL_INSTOPT, b"\x00"),
        (PL_THREADID, b""),
        (PL_MARS, b"\x00"),
    ]
    if PL_FEDAUTHREQUIRED in client:
        options.append((PL_FEDAUTHREQUIRED, b"\x01"))
    return build_prelogin(options)


@dataclass
class Login7:
    tds_version: int
    packet_size: int
    option_flags3: int
    hostname: str = ""
    username: str = ""
    password_present: bool = False
    appname: str = ""
    servername: str = ""
    library: str = ""
    language: str = ""
    database: str = ""
    features: dict[int, bytes] = field(default_factory=dict)
    workflow_token: str | None = None  # the token of the FEDAUTH_TOKEN message that follows FEDAUTHINFO

    @property
    def fedauth_token(self) -> str | None:
        """The security token, or None when the client sent no FEDAUTH feature."""
        data = self.features.get(FEATURE_FEDAUTH)
        if data is None:
            return None
        if not data:
            return ""
        library = data[0] >> 1
        if library == FEDAUTH_LIBRARY_MSAL:
            return self.workflow_token if self.workflow_token is not None else ""
        if library != FEDAUTH_LIBRARY_SECURITY_TOKEN or len(data) < 5:
            return ""
        (length,) = struct.unpack_from("<I", data, 1)
        raw = data[5 : 5 + length]
        try:
            return raw.decode("utf-16-le")
        except UnicodeDecodeError:
            return ""

    @property
    def fedauth_library(self) -> int | None:
        data = self.features.get(FEATURE_FEDAUTH)
        return None if not data else data[0] >> 1

    @property
    def fedauth_workflow(self) -> int | None:
        """The MSAL workflow byte (1 password, 2 integrated, 3 interactive/MSI/default ...), when the library is MSAL."""
        data = self.features.get(FEATURE_FEDAUTH)
        if not data or data[0] >> 1 != FEDAUTH_LIBRARY_MSAL or len(data) < 2:
            return None
        return data[1]


def parse_fedauth_token(body: bytes) -> str:
    """The FEDAUTH_TOKEN message (packet type 0x08, [MS-TDS] 2.2.6.3): DataLen, L_VARBYTE token, [Nonce]."""
    if len(body) < 8:
        raise ValueError("FEDAUTH_TOKEN shorter than its length fields")
    _data_len, token_len = struct.unpack_from("<II", body, 0)
    raw = body[8 : 8 + token_len]
    if len(raw) != token_len or token_len % 2:
        raise ValueError("FEDAUTH_TOKEN length does not match its data")
    try:
        # ODBC Driver 18 sends the token NUL-terminated; the NUL is not part of the JWT.
        return raw.decode("utf-16-le").rstrip("\x00")
    except UnicodeDecodeError:
        return ""


def _text(body: bytes, offset: int, chars: int) -> str:
    return body[offset : offset + 2 * chars].decode("utf-16-le", errors="replace")


def parse_login7(body: bytes) -> Login7:
    if len(body) < 94:
        raise ValueError("LOGIN7 shorter than its fixed part")
    _length, tds_version, packet_size = struct.unpack_from("<III", body, 0)
    option_flags3 = body[27]
    fields = struct.unpack_from("<" + "HH" * 9, body, 36)
    pairs = [(fields[i], fields[i + 1]) for i in range(0, 18, 2)]
    host, user, password, app, server, ext, library, language, database = pairs
    login = Login7(
        tds_version=tds_version,
        packet_size=packet_size,
        option_flags3=option_flags3,
        hostname=_text(body, *host),
        username=_text(body, *user),
        password_present=password[1] > 0,
        appname=_text(body, *app),
        servername=_text(body, *server),
        library=_text(body, *library),
        language=_text(body, *language),
        database=_text(body, *database),
    )
    if option_flags3 & 0x10 and ext[1] >= 4:
        (feature_offset,) = struct.unpack_from("<I", body, ext[0])
        login.features = _parse_features(body, feature_offset)
    return login


def _parse_features(body: bytes, pos: int) -> dict[int, bytes]:
    features: dict[int, bytes] = {}
    while pos < len(body) and body[pos] != FEATURE_TERMINATOR:
        fid = body[pos]
        (length,) = struct.unpack_from("<I", body, pos + 1)
        features[fid] = body[pos + 5 : pos + 5 + length]
        pos += 5 + length
    return features
