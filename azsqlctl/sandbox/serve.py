"""Start and stop the whole sandbox: its surfaces (token endpoint, TDS, ARM, DNS) on 127.0.0.1.

``Sandbox`` is the in-process handle tests use (a context manager); ``serve``
and ``run`` are what the CLI calls.
"""

from __future__ import annotations

import contextlib
import os
import select
import shlex
import signal
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar

from azsqlctl.atomic_file import private_dir, write_atomic
from azsqlctl.core.clouds import SANDBOX_CLOUD_NAME
from azsqlctl.core.errors import ConfigError, UsageError

from .arm.endpoint import ArmService
from .certs import CertPaths, ensure_certificates
from .dns.endpoint import DnsEndpoint, DnsService
from .entra.authority import AuthorityService
from .entra.identity_endpoint import IdentityService
from .entra.tokens import Issuer
from .faults import Faults
from .http import HttpEndpoint
from .monitor.audit import Retention
from .sql.endpoint import SqlEndpoint
from .sql.tds.server import TdsServer
from .state import SandboxState
from .store import StateStore, default_state_path
from .surfaces import (
    ARM_RESOURCE,
    HOST,
    SQL_AUDIENCES,
    SQL_RESOURCE,
    SURFACES,
    ArmSurface,
    DnsSurface,
    EntraSurface,
    Parts,
    Surface,
    TdsSurface,
    TokenSurface,
    fault_kinds,
    stop_all,
)

__all__ = ["ARM_RESOURCE", "HOST", "SQL_AUDIENCES", "SQL_RESOURCE", "Sandbox", "run", "serve"]
S = TypeVar("S", bound=Surface)


def _system_cert_dir() -> str:
    """The system roots' directory, read when asked (as OpenSSL reads SSL_CERT_DIR), not when this module loads."""
    paths = ssl.get_default_verify_paths()
    return os.environ.get("SSL_CERT_DIR") or next((p for p in (paths.capath, paths.openssl_capath) if p and Path(p).is_dir()), "")


def _system_ca_file(exclude: Path) -> Path | None:
    paths = ssl.get_default_verify_paths()
    for candidate in (os.environ.get("SSL_CERT_FILE"), paths.cafile, paths.openssl_cafile, "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file() and Path(candidate).resolve() != exclude.resolve():
            return Path(candidate)
    return None


class Sandbox:
    """The whole sandbox in-process: its surfaces (see ``surfaces.SURFACES``) over one state store."""

    def __init__(
        self,
        state_path: Path | None = None,
        *,
        initial: SandboxState | None = None,
        material_dir: Path | None = None,
        tds_port: int = 0,
        identity_port: int = 0,
        arm_port: int = 0,
        dns_port: int = 0,
        token_lifetime: int | None = None,
        audit_retention: Retention | None = None,
        surfaces: tuple[type[Surface], ...] = SURFACES,
        ports: dict[str, int] | None = None,  # by surface name, for surfaces without a keyword here
    ) -> None:
        if state_path is None and material_dir is None:
            raise ValueError("an in-memory sandbox needs a material_dir for its CA and signing key")
        self.state_path = state_path
        self.material = material_dir or (state_path.parent / ".azsqlctl-sandbox" if state_path else Path("."))
        try:
            if state_path is not None:  # the state directory is 0700 when the sandbox creates it (and the default one always)
                private_dir(state_path.parent, tighten=state_path.parent == default_state_path().parent)
            private_dir(self.material, tighten=True)  # keys live here: ours alone
        except OSError as exc:
            raise ConfigError(
                f"cannot create the sandbox's directory {exc.filename or self.material}: {exc.strerror or exc}",
                "pass a --state path in a writable directory",
                code="sandbox_material",
            ) from None
        self.store = StateStore(state_path, initial, audit_retention)
        self.faults = Faults(fault_kinds(surfaces))
        try:
            self.issuer = Issuer.load_or_create(self.material / "signing-key.pem")
            self.certs: CertPaths = ensure_certificates(self.material, self.store.read(lambda s: s.server.name))
            self.bundle = self._write_bundle()
        except OSError as exc:
            raise ConfigError(
                f"cannot create the sandbox's CA and signing key in {self.material}: {exc.strerror or exc}",
                "pass a --state path in a writable directory (the keys live beside the state file)",
                code="sandbox_material",
            ) from None
        named = {TdsSurface.name: tds_port, TokenSurface.name: identity_port, ArmSurface.name: arm_port, DnsSurface.name: dns_port}
        self.parts = Parts(self.store, self.faults, self.issuer, self.certs, {**named, **(ports or {})}, token_lifetime, self.material)
        self.surfaces: dict[str, Surface] = {cls.name: cls(self.parts) for cls in surfaces}
        self._running: list[Surface] = []

    def surface(self, cls: type[S]) -> S:
        found = self.surfaces[cls.name]
        assert isinstance(found, cls)
        return found

    # The domain objects tests and benchmarks reach for, by their historical names.
    @property
    def identity(self) -> IdentityService:
        return self.surface(TokenSurface).service

    @property
    def entra(self) -> AuthorityService:
        return self.surface(EntraSurface).service

    @property
    def sql(self) -> SqlEndpoint:
        return self.surface(TdsSurface).service

    @property
    def arm(self) -> ArmService:
        return self.surface(ArmSurface).service

    @property
    def dns(self) -> DnsService:
        return self.surface(DnsSurface).service

    @property
    def tds(self) -> TdsServer | None:
        return self.surface(TdsSurface).server

    @property
    def identity_http(self) -> HttpEndpoint:
        http = self.surface(TokenSurface).http
        assert http is not None, "sandbox not started"
        return http

    @property
    def arm_http(self) -> HttpEndpoint:
        http = self.surface(ArmSurface).http
        assert http is not None, "sandbox not started"
        return http

    @property
    def dns_udp(self) -> DnsEndpoint:
        udp = self.surface(DnsSurface).udp
        assert udp is not None, "sandbox not started"
        return udp

    def _write_bundle(self) -> Path:
        """System roots + the sandbox CA, for SSL_CERT_FILE: trusting the sandbox must not untrust the world."""
        bundle = self.material / "ca-bundle.pem"
        system = _system_ca_file(bundle)
        text = (system.read_text(encoding="utf-8") + "\n") if system else ""
        text += self.certs.ca_cert.read_text(encoding="utf-8")
        with contextlib.suppress(OSError):
            if bundle.read_text(encoding="utf-8") == text:
                return bundle  # as it is (sandboxes sharing a material directory start with it already written)
        # Atomically: another sandbox sharing this material directory may be reading it right now.
        write_atomic(bundle, text, 0o644)  # CA certificates are public
        return bundle

    def start(self) -> Sandbox:
        self.faults.rearm()
        try:
            for surface in self.surfaces.values():
                surface.start()
                self._running.append(surface)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every surface in parallel; injected delays are cut short; the audit trail is flushed."""
        running, self._running = self._running, []
        self.faults.release()
        stop_all(running)
        self.parts.started.clear()
        self.store.audit.close()

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
        assert self._running, "sandbox not started"
        env: dict[str, str] = {}
        for surface in self._running:
            env.update(surface.env())
        tenant = self.store.read(lambda s: s.tenant_id)
        cert_dir = _system_cert_dir()
        return {
            **env,
            "AZSQLCTL_CLOUD": SANDBOX_CLOUD_NAME,
            "AZSQLCTL_SQL_RESOURCE": SQL_RESOURCE,
            "AZSQLCTL_CA_BUNDLE": str(self.certs.ca_cert),
            "AZSQLCTL_TENANT_ID": tenant,
            # Plain pyodbc: the driver's OpenSSL trusts the sandbox CA file, and the system
            # roots through the certificate directory (a combined file costs ~50 ms per login).
            "SSL_CERT_FILE": str(self.certs.ca_cert),
            **({"SSL_CERT_DIR": cert_dir} if cert_dir else {}),
            # requests-based SDK code reads only one file: system roots + the sandbox CA.
            "REQUESTS_CA_BUNDLE": str(self.bundle),
        }

    def issue_token(self, identity: str, resource: str = SQL_RESOURCE, **overrides: Any) -> str:
        """Mint a token directly (tests: users, groups, wrong tenant, expired ...)."""
        ident, tenant, lifetime = self.store.read(
            lambda s: (next(i for i in s.identities if i.name == identity), s.tenant_id, s.token_lifetime)
        )
        return self.issuer.issue(ident, resource, tenant, lifetime, **overrides)

    def identities(self) -> tuple[IdentityRow, ...]:
        """The identities the sandbox knows, with what each is in its databases."""
        # Each database's users live in its own data file (sql/engine/storage.py): read before the state's lock.
        names = self.store.read(lambda s: [d.name for d in s.server.databases])
        users = {name: security.users for name in names if (security := self.sql.storage.security(name)) is not None}

        def rows(s: SandboxState) -> tuple[IdentityRow, ...]:
            out = []
            for ident in s.identities:
                dbs = tuple(name for name, found in users.items() if any(u.sid.lower() == ident.sid_guid.lower() for u in found))
                admin = s.server.entra_admin is not None and s.server.entra_admin.sid.lower() == ident.sid_guid.lower()
                out.append(IdentityRow(ident.name, ident.kind, ident.system_assigned, ident.client_id, ident.object_id, admin, dbs))
            return tuple(out)

        return self.store.read(rows)


@dataclass(frozen=True)
class IdentityRow:
    name: str
    kind: str
    system_assigned: bool
    client_id: str
    object_id: str
    entra_admin: bool
    database_user_in: tuple[str, ...]  # the databases it is a user in

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "system_assigned": self.system_assigned, "client_id": self.client_id,
            "object_id": self.object_id, "entra_admin": self.entra_admin, "database_user_in": list(self.database_user_in),
        }  # fmt: skip


EnvFormat = Literal["shell", "docker"]


def env_file_text(env: dict[str, str], fmt: EnvFormat = "shell") -> str:
    """KEY=value lines.

    ``shell`` (default): values quoted only when they need it (``shlex.quote``), so the file
    is ``source``-able whatever the paths hold (spaces ...) and, for ordinary values (no
    spaces or shell characters), byte-identical to the docker form.
    ``docker``: ``docker run --env-file`` takes everything after ``=`` literally (quotes
    included), so values are written raw; a value with a newline cannot be carried.
    """
    if fmt == "docker":
        for key, value in env.items():
            if "\n" in value or "\r" in value:
                raise UsageError(f"{key} holds a line break, which a docker env file cannot carry", "use --env-format shell")
        return "".join(f"{k}={v}\n" for k, v in env.items())
    return "".join(f"{k}={shlex.quote(v)}\n" for k, v in env.items())


def check_env_file(path: Path) -> None:
    """Refuse an env file path that can never be written, before anything starts."""
    if path.is_dir():
        raise UsageError(f"--env-file {path} is a directory", f"pass a file path, e.g. --env-file {path / 'sandbox.env'}", code="env_file")
    if not path.parent.is_dir():
        raise UsageError(
            f"--env-file {path}: directory {path.parent} does not exist",
            "create the directory first, or pick another path",
            code="env_file",
        )


def write_env_file(path: Path, env: dict[str, str], fmt: EnvFormat = "shell") -> None:
    """Write atomically with mode 0600 from the start: the file holds IDENTITY_HEADER, a credential."""
    check_env_file(path)
    text = env_file_text(env, fmt)
    try:
        write_atomic(path, text, 0o600)
    except OSError as exc:
        raise UsageError(
            f"cannot write --env-file {path}: {exc.strerror or exc}", "pick a path in a writable directory", code="env_file"
        ) from None


def one_cpu() -> int | None:
    """Keep this process (and the threads it starts from now on) on one CPU; returns that CPU, or None where it cannot.

    Why: the sandbox is one Python process, and its sessions' Python runs one thread at a time under the
    interpreter lock. Spread over several cores, every hand-over of that lock between session threads crosses
    cores, and the lock's ping-pong cost more than the parallel SQLite and TLS work gained: measured on the 2-core
    CI machine (`python -m bench queries`, `mixed`), 8 clients ran 820 point queries/s with the sandbox free to use
    both cores and 1,360/s kept on one; 40 mixed clients 750 vs 1,190 statements/s. The other cores stay free
    for the clients and the application under test. Only `sandbox serve` does this (its process is the sandbox's
    own); an in-process Sandbox (the pytest plugin) leaves its host process alone."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    allowed = os.sched_getaffinity(0)
    if len(allowed) < 2:
        return None
    cpu = max(allowed)  # the scheduler tends to fill the lowest-numbered CPUs first
    os.sched_setaffinity(0, {cpu})
    return cpu


def serve(
    sandbox: Sandbox,
    env_file: Path | None,
    on_ready: Callable[[Sandbox], None],
    stop: threading.Event | None = None,
    env_format: EnvFormat = "shell",
    all_cpus: bool = False,
) -> None:
    """Run until SIGINT/SIGTERM/SIGHUP (or ``stop`` is set), then shut everything down; on one CPU unless ``all_cpus``
    (see one_cpu), pinned before the sandbox starts its threads so they all inherit it."""
    stop = stop or threading.Event()
    if env_file is not None:
        check_env_file(env_file)
    if not all_cpus:
        one_cpu()
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        with sandbox:
            if env_file is not None:
                write_env_file(env_file, sandbox.env, env_format)
            on_ready(sandbox)
            while not stop.wait(0.5):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


KILL_AFTER = 10.0  # seconds a signalled command gets before SIGKILL (docker stop's default)


def run(
    sandbox: Sandbox,
    command: Sequence[str],
    kill_after: float = KILL_AFTER,
    overlay: Callable[[Sandbox], tuple[dict[str, str], tuple[str, ...]]] | None = None,
) -> int:
    """Start the sandbox, run ``command`` with its environment, stop, return the command's exit code.

    The command runs in a process group of its own, so it and everything it starts can be signalled
    and waited for as one. At a terminal that group is made the foreground job (as a shell does): a
    Ctrl-C reaches the command's processes once, from the terminal. SIGINT, SIGTERM and SIGHUP sent to
    azsqlctl are forwarded to the whole group; if it is still there ``kill_after`` seconds later (or
    a second signal comes) it gets SIGKILL. When the command ends, what it left running in its group is
    terminated the same way: nothing outlives ``sandbox run``. Exit code: the command's own, or
    128 + the signal that killed it (130 for SIGINT, 143 for SIGTERM, 137 after SIGKILL), as a shell reports it.
    """
    with sandbox:
        env = {**os.environ, **sandbox.env}
        if overlay is not None:  # `sandbox run --as`: a job's or pod's environment (entra/jobs.py)
            extra, unset = overlay(sandbox)
            env = {k: v for k, v in env.items() if k not in unset} | extra
        terminal = _our_terminal()
        try:
            child = subprocess.Popen(list(command), env=env, process_group=0)
        except FileNotFoundError:
            return 127
        except PermissionError:
            return 126
        if terminal is not None:
            _give_terminal(terminal, child.pid)
        try:
            code = _supervise(child, kill_after)
        finally:
            _end_group(child.pid, kill_after)
            if terminal is not None:
                _give_terminal(terminal, os.getpgrp())
    return 128 - code if code < 0 else code


def _our_terminal() -> int | None:
    """stdin's terminal when our process group is its foreground job (a Ctrl-C there reaches us), else None."""
    try:
        return 0 if os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp() else None
    except OSError:
        return None


def _give_terminal(fd: int, pgid: int) -> None:
    """Make ``pgid`` the terminal's foreground job. SIGTTOU is ignored meanwhile (we may be in the background by then)."""
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN) if threading.current_thread() is threading.main_thread() else None
    try:
        with contextlib.suppress(OSError):
            os.tcsetpgrp(fd, pgid)
        if pgid != os.getpgrp():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGCONT)  # it may have read the terminal before it was its job, and stopped
    finally:
        if previous is not None:
            signal.signal(signal.SIGTTOU, previous)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _supervise(child: subprocess.Popen[bytes], kill_after: float) -> int:
    """Wait for ``child``; forward SIGINT/SIGTERM/SIGHUP to its group; SIGKILL the group ``kill_after`` s later or on a second signal.

    Until a signal comes, the wait blocks on the child's pidfd (Linux): a `sandbox run` around a long CI step uses
    no CPU while it waits, where polling every 0.1 s cost ~5 ms of CPU a second. A forwarded signal wakes that wait
    through a pipe, and the grace period is then timed. Without pidfds the wait polls throughout.
    """
    deadline: list[float] = []
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    try:
        pidfd = os.pidfd_open(child.pid)
    except (AttributeError, OSError):  # not Linux 5.3+: poll
        pidfd = -1

    def forward(signum: int, _frame: object) -> None:
        if deadline:  # asked again: no more waiting
            _signal_group(child.pid, signal.SIGKILL)
            return
        deadline.append(time.monotonic() + kill_after)
        _signal_group(child.pid, signum)
        with contextlib.suppress(OSError):
            os.write(wake_w, b"\0")  # ends the blocking wait below: the grace period is timed from here

    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            previous[sig] = signal.signal(sig, forward)
    try:
        while True:
            if pidfd >= 0 and not deadline:
                select.select([pidfd, wake_r], [], [])  # the child ended (its pidfd is readable), or a signal came
                code = child.poll()
                if code is not None:
                    return code
                continue
            try:
                return child.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                if deadline and time.monotonic() > deadline[0]:
                    _signal_group(child.pid, signal.SIGKILL)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for fd in (pidfd, wake_r, wake_w):
            if fd >= 0:
                os.close(fd)


def _group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process is in group ``pgid``.

    A signal-0 probe answers at once for the usual case, a group with no process left at all (reading every
    process's stat took ~2 ms of CPU with 80 processes running, more on a busier machine, at least once per
    `sandbox run`); a group it finds may hold only zombies (not yet reaped by their parent), so /proc tells which.
    """
    proc = Path("/proc")
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        if not proc.is_dir():
            return False  # without /proc: only what we may signal counts
    if not proc.is_dir():
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":  # fields after the name: state, ppid, pgrp, ...
            return True
    return False


def _end_group(pgid: int, kill_after: float) -> None:
    """The command is gone; what it left in its group (a background `sleep &`) gets SIGTERM, then SIGKILL."""
    if not _group_alive(pgid):
        return
    _signal_group(pgid, signal.SIGTERM)
    _signal_group(pgid, signal.SIGCONT)  # a stopped process acts on SIGTERM only once continued
    deadline = time.monotonic() + kill_after
    while _group_alive(pgid):
        if time.monotonic() > deadline:
            _signal_group(pgid, signal.SIGKILL)
            break
        time.sleep(0.05)
