"""One requests.Session whose HTTPS connections all verify with one SSLContext.

requests loads the CA bundle into a new SSLContext for every new connection (~25-50 ms of CPU for a
system-sized bundle); doctor's three ARM reads and a federated login's two calls would each pay it. The
session here reads the bundle once. It is handed to azure-core's RequestsTransport, so the SDK pipeline
(policies, retries, timeouts, error types) stays the SDK's own.
"""

from __future__ import annotations

import os
import ssl
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import requests
    from requests.adapters import HTTPAdapter


class _VerifyingPool(Protocol):
    """The urllib3 connection pool requests' ``cert_verify`` configures (requests types it as Any)."""

    ca_certs: str | None
    ca_cert_dir: str | None


def shared_context_session(ca_bundle: str, url: str) -> requests.Session:
    """A session for ``url``: the cloud's CA bundle when it has one (it wins over REQUESTS_CA_BUNDLE, as the SDK
    clients are given it), else what requests would use for this URL (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE or
    certifi's), loaded once."""
    import requests

    session = requests.Session()
    if ca_bundle:
        session.verify = ca_bundle
    verify = ca_bundle or session.merge_environment_settings(url, {}, None, None, None)["verify"]
    if verify is not False:
        session.mount("https://", _shared_context_adapter(_context(verify)))
    return session


def _context(verify: object) -> ssl.SSLContext:
    from requests.utils import DEFAULT_CA_BUNDLE_PATH

    where = verify if isinstance(verify, str) else DEFAULT_CA_BUNDLE_PATH
    if os.path.isdir(where):
        return ssl.create_default_context(capath=where)
    return ssl.create_default_context(cafile=where)


def _shared_context_adapter(context: ssl.SSLContext) -> HTTPAdapter:
    """An HTTPAdapter whose HTTPS connections all verify with ``context`` (not a CA file each)."""
    from requests import PreparedRequest
    from requests.adapters import HTTPAdapter

    class SharedContext(HTTPAdapter):
        def build_connection_pool_key_attributes(
            self, request: PreparedRequest, verify: bool | str, cert: str | tuple[str, str] | None = None
        ) -> tuple[dict[str, object], dict[str, object]]:
            host, pool = super().build_connection_pool_key_attributes(request, verify, cert)
            if verify is not False:
                pool.pop("ca_certs", None)
                pool.pop("ca_cert_dir", None)
                pool["ssl_context"] = context
            return host, pool

        def cert_verify(self, conn: _VerifyingPool, url: str, verify: bool | str, cert: str | tuple[str, str] | None) -> None:
            super().cert_verify(conn, url, verify, cert)
            if verify is not False:  # else urllib3 would load the file into the shared context on each connection
                conn.ca_certs = conn.ca_cert_dir = None

    return SharedContext()
