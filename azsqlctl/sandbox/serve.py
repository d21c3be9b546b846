"""Start and stop the whole sandbox: token endpoint, TDS listener and ARM, on 127.0.0.1.

``Sandbox`` is the in-process handle tests use (a context manager); ``serve``
and ``run`` are what the CLI calls.
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from azsqlctl.core.clouds import SANDBOX_CLOUD_NAME

from .arm import ArmService, start_arm_endpoint
from .certs import CertPaths, ensure_certificates, server_context
from .dns_endpoint import DnsService, start_dns_endpoint
from .faults import Faults
from .identity_endpoint import IdentityService, start_identity_endpoint
from .sql_endpoint import SqlEndpoint
from .state import SandboxState
from .store import StateStore
from .tds.server import TdsServer
from .tds.session import Tls
from .tokens import Issuer

SQL_RESOURCE = "https://database.windows.net/"
ARM_RESOURCE = "https://management.azure.com/"
SQL_AUDIENCES = (SQL_RESOURCE, "https://database.windows.net")
HOST = "localhost"  # the name in the certificate; the listeners bind 127.0.0.1


def default_state_path() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "azsqlctl" / "sandbox" / "state.json"


_paths = ssl.get_default_verify_paths()
_SYSTEM_CERT_DIR = os.environ.get("SSL_CERT_DIR") or next((p for p in (_paths.capath, _paths.openssl_capath) if p and Path(p).is_dir()), "")


def _system_ca_file(exclude: Path) -> Path | None:
    paths = ssl.get_default_verify_paths()
    for candidate in (os.environ.get("SSL_CERT_FILE"), paths.cafile, paths.openssl_cafile, "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file() and Path(candidate).resolve() != exclude.resolve():
            return Path(candidate)
    return None


class Sandbox:
    def __init__(
        self,
        state_path: Path | None = None,
        *,
        initial: SandboxState | None = None,
        material_dir: Path | None = None,
        tds_port: int = 0,
        identity_port: int = 0,
        arm_port: int = 0,
        token_lifetime: int | None = None,
    ) -> None:
        if state_path is None and material_dir is None:
            raise ValueError("an in-memory sandbox needs a material_dir for its CA and signing key")
        self.state_path = state_path
        self.material = material_dir or (state_path.parent / ".azsqlctl-sandbox" if state_path else Path("."))
        self.store = StateStore(state_path, initial)
        self.faults = Faults()
        self.issuer = Issuer.load_or_create(self.material / "signing-key.pem")
        self.certs: CertPaths = ensure_certificates(self.material, self.store.read(lambda s: s.server.name))
        self.bundle = self._write_bundle()
        self.identity = IdentityService(self.store, self.issuer, self.faults, token_lifetime)
        self.sql = SqlEndpoint(self.store, self.issuer, self.faults, SQL_AUDIENCES)
        self.arm = ArmService(self.store, self.issuer, self.faults, HOST)
        self.dns = DnsService(self.store, self.faults, HOST)
        self._ports = (tds_port, identity_port, arm_port)
        self._parts: list[Any] = []
        self.tds: TdsServer | None = None

    def _write_bundle(self) -> Path:
        """System roots + the sandbox CA, for SSL_CERT_FILE: trusting the sandbox must not untrust the world."""
        bundle = self.material / "ca-bundle.pem"
        system = _system_ca_file(bundle)
        text = (system.read_text(encoding="utf-8") + "\n") if system else ""
        bundle.write_text(text + self.certs.ca_cert.read_text(encoding="utf-8"), encoding="utf-8")
        return bundle

    def start(self) -> Sandbox:
        tds_port, identity_port, arm_port = self._ports
        tls = Tls(server_context(self.certs, tds=True), server_context(self.certs, tds=True, alpn="tds/8.0"))
        try:
            self.identity_http = start_identity_endpoint(self.identity, identity_port)
            self._parts.append(self.identity_http)
            self.tds = TdsServer(self.sql, tls, port=tds_port, fault=self.sql.session_fault).start()
            self._parts.append(self.tds)
            self.arm_http = start_arm_endpoint(self.arm, server_context(self.certs, tds=False), arm_port)
            self._parts.append(self.arm_http)
            self.dns_udp = start_dns_endpoint(self.dns)
            self._parts.append(self.dns_udp)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        while self._parts:
            self._parts.pop().stop()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    @property
    def tds_port(self) -> int:
        assert self.tds is not None, "sandbox not started"
        return int(self.tds.port)

    @property
    def server(self) -> str:
        return f"{HOST},{self.tds_port}"

    @property
    def env(self) -> dict[str, str]:
        """Everything a client needs: azure-identity, pyodbc and azsqlctl all work with just this."""
        st = self.store.read(
            lambda s: (
                s.server.subscription_id,
                s.server.resource_group,
                s.server.databases[0].name if s.server.databases else "master",
                s.tenant_id,
            )
        )
        return {
            "IDENTITY_ENDPOINT": f"{self.identity_http.url}/msi/token",
            "IDENTITY_HEADER": self.identity.header_secret,
            "AZSQLCTL_SERVER": self.server,
            "AZSQLCTL_DATABASE": st[2],
            "AZSQLCTL_SUBSCRIPTION": st[0],
            "AZSQLCTL_RESOURCE_GROUP": st[1],
            "AZSQLCTL_CLOUD": SANDBOX_CLOUD_NAME,
            "AZSQLCTL_ARM_ENDPOINT": self.arm_http.url,
            "AZSQLCTL_ARM_RESOURCE": ARM_RESOURCE,
            "AZSQLCTL_SQL_RESOURCE": SQL_RESOURCE,
            "AZSQLCTL_SQL_DNS_SUFFIX": HOST,
            "AZSQLCTL_DNS_SERVER": f"{self.dns_udp.host}:{self.dns_udp.port}",
            "AZSQLCTL_CA_BUNDLE": str(self.certs.ca_cert),
            "AZSQLCTL_TENANT_ID": st[3],
            # Plain pyodbc: the driver's OpenSSL trusts the sandbox CA file, and the system
            # roots through the certificate directory (a combined file costs ~50 ms per login).
            "SSL_CERT_FILE": str(self.certs.ca_cert),
            **({"SSL_CERT_DIR": _SYSTEM_CERT_DIR} if _SYSTEM_CERT_DIR else {}),
            # requests-based SDK code reads only one file: system roots + the sandbox CA.
            "REQUESTS_CA_BUNDLE": str(self.bundle),
        }

    def issue_token(self, identity: str, resource: str = SQL_RESOURCE, **overrides: Any) -> str:
        """Mint a token directly (tests: users, groups, wrong tenant, expired ...)."""
        ident, tenant, lifetime = self.store.read(
            lambda s: (next(i for i in s.identities if i.name == identity), s.tenant_id, s.token_lifetime)
        )
        return self.issuer.issue(ident, resource, tenant, lifetime, **overrides)

    def identities_table(self) -> list[dict[str, Any]]:
        def rows(s: SandboxState) -> list[dict[str, Any]]:
            out = []
            for ident in s.identities:
                dbs = [d.name for d in s.server.databases if any(u.sid.lower() == ident.sid_guid.lower() for u in d.users)]
                admin = s.server.entra_admin is not None and s.server.entra_admin.sid.lower() == ident.sid_guid.lower()
                out.append({
                    "name": ident.name, "kind": ident.kind, "system_assigned": ident.system_assigned,
                    "client_id": ident.client_id, "object_id": ident.object_id,
                    "entra_admin": admin, "database_user_in": dbs,
                })  # fmt: skip
            return out

        return self.store.read(rows)


def env_file_text(env: dict[str, str]) -> str:
    """KEY=value lines both `source` and docker --env-file accept: no quotes, no spaces, no export."""
    for key, value in env.items():
        if any(c in value for c in " \t\n'\"$`\\"):
            raise ValueError(f"{key} has a value an env file cannot carry unquoted: {value!r}")
    return "".join(f"{k}={v}\n" for k, v in env.items())


def serve(sandbox: Sandbox, env_file: Path | None, on_ready: Callable[[Sandbox], None], stop: threading.Event | None = None) -> None:
    """Run until SIGINT/SIGTERM (or ``stop`` is set), then shut everything down."""
    stop = stop or threading.Event()
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        with sandbox:
            if env_file is not None:
                env_file.write_text(env_file_text(sandbox.env), encoding="utf-8")
            on_ready(sandbox)
            while not stop.wait(0.5):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run(sandbox: Sandbox, command: Sequence[str]) -> int:
    """Start the sandbox, run ``command`` with its environment, stop, return the command's exit code."""
    with sandbox:
        env = {**os.environ, **sandbox.env}
        try:
            return subprocess.run(list(command), env=env, check=False).returncode
        except FileNotFoundError:
            return 127
