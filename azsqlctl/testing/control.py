"""A handle on a running sandbox's state, for tests: users and roles, refused logins, token lifetime, faults.

Every change goes through the sandbox's state store (the same one its endpoints read), so it takes
effect on the next token request or login. :meth:`SandboxControl.reset` puts the state back as it
was when the handle was made and disarms every fault: the plugin calls it after each test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from azsqlctl.core.grant.plan import FIXED_ROLES, PRESETS
from azsqlctl.sandbox import state as st

if TYPE_CHECKING:
    from azsqlctl.sandbox.faults import Fault
    from azsqlctl.sandbox.serve import Sandbox

__all__ = ["FederatedJob", "IdentityInfo", "SandboxControl", "ServicePrincipal"]


@dataclass(frozen=True)
class IdentityInfo:
    """An identity of the sandbox tenant, as an app's settings name it."""

    name: str
    kind: str
    client_id: str
    object_id: str

    @property
    def env(self) -> dict[str, str]:
        """What selects this identity in azure-identity (DefaultAzureCredential / ManagedIdentityCredential)."""
        return {"AZURE_CLIENT_ID": self.client_id} if self.client_id else {}


@dataclass(frozen=True)
class ServicePrincipal:
    """An app registration with a client secret (and optionally a certificate) in the sandbox tenant."""

    name: str
    client_id: str
    tenant_id: str
    secret: str = field(repr=False)
    authority: str
    certificate_path: str = ""  # key + certificate PEM, when one was registered

    @property
    def env(self) -> dict[str, str]:
        """What EnvironmentCredential reads (secret form). azure-identity also needs
        ``disable_instance_discovery=True`` for a non-Microsoft authority such as the sandbox's."""
        return {"AZURE_CLIENT_ID": self.client_id, "AZURE_TENANT_ID": self.tenant_id,
                "AZURE_CLIENT_SECRET": self.secret, "AZURE_AUTHORITY_HOST": self.authority}  # fmt: skip

    def credential(self) -> Any:
        """A ClientSecretCredential for the sandbox authority (a new object: its own token cache)."""
        from azure.identity import ClientSecretCredential

        return ClientSecretCredential(
            self.tenant_id, self.client_id, self.secret, authority=self.authority, disable_instance_discovery=True
        )


@dataclass(frozen=True)
class FederatedJob:
    """A CI job's or pod's environment (``sandbox run --as`` forms) and the app it logs in as."""

    spec: str
    client_id: str
    env: dict[str, str]
    unset: tuple[str, ...]


class SandboxControl:
    """Change what the sandbox answers; every change is undone by :meth:`reset`."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._baseline = sandbox.store.read(st.to_dict)
        # Each database's security state lives in its own data file, not in the state: kept beside it.
        names = sandbox.store.read(lambda s: [d.name for d in s.server.databases])
        self._security = {name: sandbox.sql.storage.security(name) for name in names}
        self._token_requests = self._token_counts()
        self._logins_ok = sandbox.sql.logins_ok
        self._logins_failed = sandbox.sql.logins_failed

    # --- identities and users ---------------------------------------------------------------------

    def identities(self) -> dict[str, IdentityInfo]:
        return self.sandbox.store.read(lambda s: {i.name: IdentityInfo(i.name, i.kind, i.client_id, i.object_id) for i in s.identities})

    def identity(self, name: str) -> IdentityInfo:
        found = self.identities().get(name)
        if found is None:
            raise KeyError(f"no identity {name!r} in the sandbox tenant; known: {sorted(self.identities())}")
        return found

    def make_user(self, identity: str, roles: Sequence[str] = ("reader",), database: str = "appdb") -> None:
        """Make ``identity`` a contained database user (FROM EXTERNAL PROVIDER) with ``roles``.

        A role is a grant preset (reader, writer, executor, migrator - as ``azsqlctl grant --role``) or a
        database role name (db_datareader ...). Memberships the identity already has are kept."""
        wanted = [r for role in roles for r in PRESETS.get(role, (role,))]
        ident = self.sandbox.store.read(lambda s: _identity(s, identity))
        self.sandbox.store.read(lambda s: _database(s, database))
        with self.sandbox.sql.storage.edit_security(database) as db:  # the database's own security state
            user = next((u for u in db.users if u.sid.lower() == ident.sid_guid.lower()), None)
            if user is None:
                next_id = max((u.principal_id for u in db.users), default=4) + 1
                user = st.DbUser(ident.name, ident.sid_guid, "X" if ident.kind == "group" else "E", next_id)
                db.users.append(user)
            for role in wanted:
                if role not in FIXED_ROLES and role not in db.roles:
                    db.roles.append(role)
                members = db.members.setdefault(role, [])
                if user.name not in members:
                    members.append(user.name)

    def deny_login(self, identity: str, database: str = "appdb") -> None:
        """Drop ``identity``'s user from ``database``: its token logins fail with 18456 (no user with its SID)."""
        ident = self.sandbox.store.read(lambda s: _identity(s, identity))
        self.sandbox.store.read(lambda s: _database(s, database))
        with self.sandbox.sql.storage.edit_security(database) as db:
            gone = {u.name for u in db.users if u.sid.lower() == ident.sid_guid.lower()}
            db.users = [u for u in db.users if u.name not in gone]
            for role, members in db.members.items():
                db.members[role] = [m for m in members if m not in gone]

    def set_database_available(self, available: bool, database: str = "appdb") -> None:
        """``False``: logins to ``database`` get 40613 (database not currently available) until set back."""
        with self.sandbox.store.mutate() as s:
            _database(s, database).available = available

    def set_token_lifetime(self, seconds: int) -> None:
        """Tokens issued from now on live ``seconds`` (Azure's are 60-90 minutes; the sandbox default is 3600)."""
        if seconds <= 0:
            raise ValueError("a token lifetime is a positive number of seconds")
        with self.sandbox.store.mutate() as s:
            s.token_lifetime = seconds

    def inject(self, surface: str, kind: str, count: int | None = 1, **options: Any) -> Fault:
        """Arm a fault: ``("token", "throttle429")``, ``("tds", "login_error", number=40613)``, ``("tds", "delay", delay=2)`` ...

        The kinds each surface accepts: ``azsqlctl.sandbox.surfaces.fault_kinds()``."""
        return self.sandbox.faults.inject(surface, kind, count, **options)

    # --- app registrations and federated identities ---------------------------------------------

    def add_service_principal(
        self,
        name: str,
        roles: Sequence[str] = ("reader",),
        database: str = "appdb",
        secret_days: float = 180,
        certificate_dir: Path | None = None,
    ) -> ServicePrincipal:
        """Register app ``name`` with a secret (``secret_days`` < 0: already expired), make it a user with ``roles``;
        with ``certificate_dir``, also register a certificate and write its key + certificate PEM there."""
        from azsqlctl.sandbox.entra import registry

        cert_path = ""
        with self.sandbox.store.mutate() as s:
            app = registry.create_app(s, name)
            secret = registry.add_secret(s, name, days=secret_days)
            if certificate_dir is not None:
                cert_pem, key_pem = registry.new_certificate(name)
                registry.add_certificate(s, name, cert_pem)
                path = certificate_dir / f"{name}.pem"
                path.write_bytes(key_pem + cert_pem)
                path.chmod(0o600)
                cert_path = str(path)
            tenant = s.tenant_id
        if roles:
            self.make_user(name, roles, database)
        return ServicePrincipal(name, app.client_id, tenant, secret.value, self.sandbox.entra.base_url, cert_path)

    def add_federated_credential(self, app: str, name: str, issuer: str, subject: str) -> None:
        """Trust tokens from ``issuer`` with ``subject`` for ``app`` (an app registration or a user-assigned identity)."""
        from azsqlctl.sandbox.entra import registry

        with self.sandbox.store.mutate() as s:
            registry.add_federated_credential(s, app, name, issuer, subject)

    def job(self, spec: str, workdir: Path, client_id: str = "") -> FederatedJob:
        """The environment of ``github:ORG/REPO@REF`` / ``aks:NS/SA`` / ``pipelines:ORG/PROJECT/CONN`` (as ``sandbox run --as``)."""
        from azsqlctl.sandbox.entra.jobs import job_environment
        from azsqlctl.sandbox.surfaces import EntraSurface

        entra = self.sandbox.surface(EntraSurface)
        job = self.sandbox.store.read(lambda s: job_environment(spec, s, entra.federation, entra.service.base_url, workdir, client_id))
        return FederatedJob(spec, job.set.get("AZURE_CLIENT_ID", ""), job.set, job.unset)

    # --- what the sandbox saw ---------------------------------------------------------------------

    def _token_counts(self) -> dict[str, int]:
        return dict(self.sandbox.identity.requests)

    def token_requests(self, identity: str | None = None) -> int:
        """Token requests the managed-identity endpoint answered since this handle was made (or last reset)."""
        now = self._token_counts()
        names = [identity] if identity else list(now)
        return sum(now.get(n, 0) - self._token_requests.get(n, 0) for n in names)

    def logins(self) -> tuple[int, int]:
        """(succeeded, failed) TDS logins since this handle was made (or last reset)."""
        sql = self.sandbox.sql
        return sql.logins_ok - self._logins_ok, sql.logins_failed - self._logins_failed

    def load_scenario(self, name: str) -> None:
        """Add a named scenario (failed-logins, fleet, no-monitoring, web-app: azsqlctl.sandbox.scenarios) to the sandbox.

        Its state changes are undone after the test like any other; audit rows (failed-logins) stay
        in the session's audit trail, as refused logins do.
        """
        from azsqlctl.sandbox.scenarios import load_scenario

        load_scenario(self.sandbox, name)

    def reset(self) -> None:
        """Back to the state this handle started from; faults disarmed; counters restart."""
        self.sandbox.faults.clear()
        baseline = st.from_dict(self._baseline)
        kept = {d.name.lower() for d in baseline.server.databases}
        added = [n for n in self.sandbox.store.read(lambda s: [d.name for d in s.server.databases]) if n.lower() not in kept]
        for entry in baseline.server.databases:
            st.without_security(entry)  # restored in the databases' own files below
        with self.sandbox.store.mutate() as s:
            for field in st.SandboxState.__dataclass_fields__:
                setattr(s, field, getattr(baseline, field))
        for name, saved in self._security.items():
            if saved is not None:
                self.sandbox.sql.storage.restore_security(name, saved)
        for name in added:
            self.sandbox.sql.storage.forget_security(name)  # added during the test: a later one of that name starts afresh
        self._token_requests = self._token_counts()
        self._logins_ok = self.sandbox.sql.logins_ok
        self._logins_failed = self.sandbox.sql.logins_failed


def _identity(s: st.SandboxState, name: str) -> st.Identity:
    found = next((i for i in s.identities if i.name == name or i.client_id.lower() == name.lower()), None)
    if found is None:
        raise KeyError(f"no identity {name!r} in the sandbox tenant; known: {sorted(i.name for i in s.identities)}")
    return found


def _database(s: st.SandboxState, name: str) -> st.Database:
    db = s.server.database(name)
    if db is None:
        raise KeyError(f"no database {name!r} on the sandbox server; known: {[d.name for d in s.server.databases]}")
    return db
