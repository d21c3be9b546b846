"""One sandbox per module for the ORM and migration-tool stacks, with the three identities an app has.

``azsqlctl grant`` makes them what a real deployment makes them: the CI identity that runs migrations
(``migrator``), the app (``writer``), a read-only consumer (``reader``). Each tool then connects as
each identity with a token from the sandbox's managed-identity endpoint, as it would on Azure.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from azsqlctl.cli.app import app
from azsqlctl.sandbox.serve import Sandbox
from azsqlctl.sandbox.state import Identity, stable_id
from tests.clients.support import Clients, applied_sandbox

ROLES = {"stack-migrator": "migrator", "stack-writer": "writer", "stack-reader": "reader"}
MIGRATOR, WRITER, READER = ROLES


@dataclass(frozen=True)
class Stack:
    clients: Clients

    @property
    def sandbox(self) -> Sandbox:
        return self.clients.sandbox

    def client_id(self, identity: str) -> str:
        return self.clients.client_id(identity)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, material_dir: Path) -> Iterator[Stack]:
    """A started sandbox, its environment applied, and the migrator, writer and reader made by `azsqlctl grant --apply`."""
    state_dir = tmp_path_factory.mktemp("stack")
    with applied_sandbox(state_dir, material_dir) as sandbox:
        with sandbox.store.mutate() as s:
            for name in ROLES:
                s.identities.append(Identity(name, "managed_identity", stable_id(f"{name}/oid"), stable_id(f"{name}/appid")))
        clients = Clients(sandbox)
        runner = CliRunner()
        for name, role in ROLES.items():
            result = runner.invoke(app, ["grant", name, "--client-id", clients.client_id(name), "--role", role, "--apply"])
            assert result.exit_code == 0, result.output
        yield Stack(clients)


def sql_error(exc: BaseException) -> str:
    """The server's message as the driver reports it: '... <text> (<number>) (SQLExecDirectW)'."""
    return str(getattr(exc, "orig", exc))
