"""What the client tests share: the sandbox's identities, tokens from its real token endpoint, counters."""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from azsqlctl.sandbox.serve import Sandbox

# Variables from the machine that would steer azure-identity or a client away from the sandbox.
FOREIGN_ENV = ("AZURE_", "IDENTITY_", "MSI_", "IMDS_", "AZSQLCTL_")
SQL_SCOPE = "https://database.windows.net/.default"
SQL_COPT_SS_ACCESS_TOKEN = 1256
# Azure SQL's answer to a valid token whose principal has no user in the database (error 18456, state 1 to the client).
REFUSED_TEXT = "Login failed for user '<token-identified principal>'."
ADMIN = "sandbox-operator"  # the server's Entra admin: dbo in every database
READER = "orders-api"  # a contained user in appdb, member of db_datareader
STRANGER = "billing-worker"  # a managed identity with no user in appdb: its logins are refused


def token_struct(token: str) -> bytes:
    """The ODBC SQL_COPT_SS_ACCESS_TOKEN value: a 4-byte length, then the token in UTF-16-LE."""
    raw = token.encode("utf-16-le")
    return struct.pack(f"<I{len(raw)}s", len(raw), raw)


@dataclass
class Clients:
    sandbox: Sandbox
    _tokens: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return self.sandbox.env

    @property
    def host(self) -> str:
        return "localhost"

    @property
    def port(self) -> int:
        return self.sandbox.tds_port

    @property
    def ca_file(self) -> str:
        return self.env["AZSQLCTL_CA_BUNDLE"]

    def client_id(self, name: str) -> str:
        return self.sandbox.store.read(lambda s: next(i.client_id for i in s.identities if i.name == name))

    def token(self, name: str = ADMIN) -> str:
        """A token from the sandbox's App Service managed-identity endpoint, through azure-identity."""
        if name not in self._tokens:
            self._tokens[name] = _mi_token(self.client_id(name))
        return self._tokens[name]

    def logins(self) -> tuple[int, int]:
        """(successful, refused) logins the sandbox's TDS endpoint has answered so far."""
        return self.sandbox.sql.logins_ok, self.sandbox.sql.logins_failed


def _mi_token(client_id: str) -> str:
    from azure.identity import ManagedIdentityCredential

    return str(ManagedIdentityCredential(client_id=client_id).get_token(SQL_SCOPE).token)


@contextlib.contextmanager
def applied_sandbox(state_dir: Path, material_dir: Path) -> Iterator[Sandbox]:
    """A started sandbox with the environment `sandbox serve` prints applied to this process (and nothing of the
    machine's that would steer a client elsewhere), the working directory in ``state_dir``; all undone after."""
    with pytest.MonkeyPatch.context() as mp, Sandbox(state_dir / "state.json", material_dir=material_dir) as sandbox:
        for key in list(os.environ):
            if key.startswith(FOREIGN_ENV):
                mp.delenv(key)
        for key, value in sandbox.env.items():
            mp.setenv(key, value)
        mp.chdir(state_dir)
        yield sandbox
