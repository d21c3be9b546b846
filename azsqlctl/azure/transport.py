"""What the SDKs raise when an endpoint cannot be talked to, classified into core.transport's causes.

azure-core raises ServiceRequestError/ServiceResponseError around requests' and urllib3's exceptions;
azure-identity folds the same failures into the text of a ClientAuthenticationError. The exception chain
is read first (types are exact), the text second (azure-identity keeps only the text).
"""

from __future__ import annotations

import errno
import http.client
import os
import re
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import TypedDict, TypeVar

from azsqlctl.core.errors import AzsqlctlError
from azsqlctl.core.transport import Cause, Endpoint, transport_failure

T = TypeVar("T")

IMDS_TOKEN_URL = "http://169.254.169.254/metadata/identity/oauth2/token"  # noqa: S105 - a URL, not a secret

_TYPES: tuple[tuple[type[BaseException], Cause], ...] = (
    (socket.gaierror, Cause.DNS),
    (ssl.SSLError, Cause.TLS),
    (ConnectionRefusedError, Cause.REFUSED),
    (TimeoutError, Cause.TIMEOUT),  # socket.timeout is TimeoutError
    (ConnectionResetError, Cause.RESET),
    (ConnectionAbortedError, Cause.RESET),
    (BrokenPipeError, Cause.RESET),
    (http.client.RemoteDisconnected, Cause.RESET),
)
_ERRNOS = {errno.ENETUNREACH: Cause.UNREACHABLE, errno.EHOSTUNREACH: Cause.UNREACHABLE, errno.ECONNREFUSED: Cause.REFUSED}
# The text azure-identity keeps (requests/urllib3 messages), most specific first.
_TEXTS: tuple[tuple[re.Pattern[str], Cause], ...] = (
    (
        re.compile(
            r"Name or service not known|nodename nor servname|Temporary failure in name resolution|getaddrinfo failed|NameResolutionError",
            re.I,
        ),
        Cause.DNS,
    ),
    (re.compile(r"CERTIFICATE_VERIFY_FAILED|certificate verify failed|SSLError|SSL: |\bTLS"), Cause.TLS),
    (re.compile(r"Connection refused|Errno 111\b|ECONNREFUSED", re.I), Cause.REFUSED),
    (re.compile(r"timed out|timeout|ConnectTimeout|ReadTimeout", re.I), Cause.TIMEOUT),
    (re.compile(r"Connection reset|Connection aborted|RemoteDisconnected|BadStatusLine|IncompleteRead", re.I), Cause.RESET),
    (re.compile(r"Network is unreachable|No route to host", re.I), Cause.UNREACHABLE),
)
_TIMEOUT_TYPES = (
    "ServiceRequestTimeoutError",
    "ServiceResponseTimeoutError",
    "ConnectTimeout",
    "ReadTimeout",
    "ReadTimeoutError",
    "ConnectTimeoutError",
)
_ROOT_ERRORS = ("ServiceRequestError", "ServiceResponseError", "ConnectionError")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo = [exc]
    while todo:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        for nxt in (e.__cause__, e.__context__, getattr(e, "inner_exception", None), getattr(e, "reason", None), *e.args):
            if isinstance(nxt, BaseException):
                todo.append(nxt)


def classify(exc: BaseException, *, by_text: bool = True) -> tuple[Cause, str] | None:
    """(cause, one line of detail) when ``exc`` is an endpoint that could not be talked to; None otherwise."""
    for e in _chain(exc):
        if type(e).__name__ in _TIMEOUT_TYPES:
            return Cause.TIMEOUT, _line(e)
        for kind, cause in _TYPES:
            if isinstance(e, kind):
                return cause, _line(e)
        if isinstance(e, OSError) and e.errno in _ERRNOS:
            return _ERRNOS[e.errno], _line(e)
    if not by_text and not any(type(e).__name__ in _ROOT_ERRORS for e in _chain(exc)):
        return None
    lines = [line.strip() for e in _chain(exc) for line in str(getattr(e, "message", None) or e).splitlines() if line.strip()]
    for pattern, cause in _TEXTS:
        for line in lines:
            if pattern.search(line):
                return cause, line[:300]  # the line that says it (a chain's failing link), not the chain's headline
    return None


def _line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first[:300]


def endpoint_failure(endpoint: Endpoint, url: str, exc: BaseException, timeout: float | None = None) -> AzsqlctlError:
    """The error for an SDK or requests exception raised while talking to ``endpoint`` (a transport failure)."""
    cause, detail = classify(exc) or (Cause.UNREACHABLE, _line(exc))
    return transport_failure(endpoint, url, cause, "" if cause is Cause.TIMEOUT else detail, timeout)


class ClientOptions(TypedDict):
    connection_timeout: float
    read_timeout: float
    timeout: float
    retry_connect: int
    retry_read: int


def client_options(timeout: float) -> ClientOptions:
    """SDK client keywords that keep one call within ``timeout``: connect and read timeouts, an overall retry
    budget, and no retry of a connection that failed (a refused or stalled endpoint answers the same again)."""
    return {"connection_timeout": timeout, "read_timeout": timeout, "timeout": timeout, "retry_connect": 0, "retry_read": 0}


def connect_cause(url: str, budget: float = 0.5) -> Cause | None:
    """Why a request to ``url`` never got an answer, when a bare connect can tell within ``budget`` seconds:
    DNS, refused or unreachable (a stalled endpoint accepts: None). Used when a deadline cut an SDK's retries
    short, so the message says "refused" rather than "did not answer" for an endpoint that is simply gone."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    if not host:
        return None
    try:
        with socket.create_connection((host, port), timeout=budget):
            return None
    except socket.gaierror:
        return Cause.DNS
    except ConnectionRefusedError:
        return Cause.REFUSED
    except OSError as exc:
        return _ERRNOS.get(exc.errno or 0) if not isinstance(exc, TimeoutError) else None


def token_endpoint(authority_host: str, managed_identity: bool) -> str:
    """The URL a token request went to: the managed-identity endpoint the environment selects, or the authority."""
    if managed_identity:
        return os.environ.get("IDENTITY_ENDPOINT") or os.environ.get("MSI_ENDPOINT") or IMDS_TOKEN_URL
    return authority_host


class DeadlineExceeded(Exception):
    """``call_with_deadline`` gave up waiting; the call goes on in an abandoned daemon thread."""


def call_with_deadline(fn: Callable[[], T], seconds: float) -> T:
    """``fn()``, or DeadlineExceeded after ``seconds``: SDK retry policies and read timeouts add up to minutes
    against an endpoint that accepts and never answers; the user asked for an answer within --timeout."""
    box: list[tuple[bool, object]] = []
    done = threading.Event()

    def work() -> None:
        try:
            box.append((True, fn()))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread as is
            box.append((False, exc))
        finally:
            done.set()

    threading.Thread(target=work, name="azsqlctl deadline", daemon=True).start()
    if not done.wait(seconds):
        raise DeadlineExceeded
    ok, value = box[0]
    if not ok:
        assert isinstance(value, BaseException)
        raise value
    return value  # type: ignore[return-value]
