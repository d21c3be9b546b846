"""`azsqlctl sandbox app create|list|add-secret|add-certificate|add-federated-credential`.

App registrations in the sandbox tenant (what `az ad app create`, `az ad app credential reset` and
`az ad app federated-credential create` do in Entra). They change the state file; a sandbox serving
it sees the change on its next request.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypedDict, cast

import typer

from . import options as o

if TYPE_CHECKING:
    from .render import Result

app = typer.Typer(help="App registrations (service principals) and their credentials in the sandbox tenant.", no_args_is_help=True)

StateFile = Annotated[
    Path | None,
    typer.Option(
        "--state", metavar="FILE", help="State file \\[default: the sandbox's own: see azsqlctl sandbox --help]", show_default=False
    ),
]
AppRef = Annotated[
    str,
    typer.Argument(
        metavar="APP",
        click_type=o.PLAIN,
        help="The app's display name or client id (or a user-assigned identity's, for federated credentials)",
    ),
]
TOKEN_EXCHANGE = "api://AzureADTokenExchange"  # noqa: S105 - an audience, not a password


def _path(state: Path | None) -> Path:
    from azsqlctl.sandbox.store import default_state_path  # not serve: that imports every surface (~0.1 s)

    return state or default_state_path()


# The shapes azsqlctl.sandbox.entra.manage answers with (its dicts, read here as these types at once).
class SecretView(TypedDict):
    key_id: str
    display_name: str
    hint: str
    end: str


class CertificateView(TypedDict):
    thumbprint: str
    display_name: str
    end: str


class FederatedView(TypedDict):
    name: str
    issuer: str
    subject: str
    audiences: list[str]
    description: str


class AppView(TypedDict):
    display_name: str
    kind: str
    client_id: str
    app_object_id: str
    sp_object_id: str
    tenant_id: str
    secrets: list[SecretView]
    certificates: list[CertificateView]
    federated_credentials: list[FederatedView]


class NewSecret(TypedDict):
    client_id: str
    tenant_id: str
    key_id: str
    value: str
    end: str


class NewCertificate(TypedDict):
    client_id: str
    tenant_id: str
    thumbprint: str
    end: str
    file: str | None


class NewFederated(TypedDict):
    client_id: str
    name: str
    issuer: str
    subject: str
    audiences: list[str]


def _print_app(d: AppView) -> None:
    print(f"{d['display_name']}  client id {d['client_id']}  ({d['kind']}, service principal object id {d['sp_object_id'] or '-'})")
    for x in d["secrets"]:
        print(f"  secret {x['display_name']}  {x['hint']}***  expires {x['end']}")
    for c in d["certificates"]:
        print(f"  certificate {c['thumbprint']}  expires {c['end']}")
    for f in d["federated_credentials"]:
        print(f"  federated {f['name']}: issuer {f['issuer']}  subject {f['subject']}  audience {', '.join(f['audiences'])}")


@app.command("create")
def create_command(name: Annotated[str, typer.Argument(metavar="NAME", click_type=o.PLAIN, help="Display name (also the database principal's name)")],
                   state: StateFile = None, output: o.Output = None, debug: o.Debug = False) -> None:  # fmt: skip
    """Register an app and its service principal in the sandbox tenant."""
    from .runner import run

    def action(fmt: str) -> Result[AppView]:
        from azsqlctl.sandbox.entra import manage

        from .render import Result

        return Result("sandbox app create", cast("AppView", manage.create(_path(state), name)), human=_print_app)

    run("sandbox app create", output, debug, action)


@app.command("list")
def list_command(state: StateFile = None, output: o.Output = None, debug: o.Debug = False) -> None:
    """List app registrations with their credentials (secret values are never shown again)."""
    from .runner import run

    def action(fmt: str) -> Result[list[AppView]]:
        from azsqlctl.sandbox.entra import manage

        from .render import Result

        def human(apps: list[AppView]) -> None:
            for d in apps:
                _print_app(d)
            if not apps:
                print("No app registrations yet: azsqlctl sandbox app create NAME")

        return Result("sandbox app list", cast("list[AppView]", manage.list_apps(_path(state))), human=human)

    run("sandbox app list", output, debug, action)


@app.command("add-secret")
def add_secret_command(
    app_ref: AppRef,
    name: Annotated[str, typer.Option("--name", metavar="TEXT", help="The secret's description")] = "",
    days: Annotated[
        float, typer.Option("--days", metavar="DAYS", help="Days until it expires (negative: already expired, for tests)")
    ] = 180.0,
    state: StateFile = None,
    output: o.Output = None,
    debug: o.Debug = False,
) -> None:
    """Add a client secret; its value is printed this once and never stored."""
    from .runner import run

    def action(fmt: str) -> Result[NewSecret]:
        from azsqlctl.sandbox.entra import manage

        from .render import Result

        def human(d: NewSecret) -> None:
            print(d["value"])
            print(
                f"Secret {d['key_id']} for {d['client_id']} expires {d['end']}. Copy the value now: it is not shown again.",
                file=__import__("sys").stderr,
            )

        data = cast("NewSecret", manage.add_secret(_path(state), app_ref, name, days))
        return Result("sandbox app add-secret", data, human=human)

    run("sandbox app add-secret", output, debug, action)


@app.command("add-certificate")
def add_certificate_command(
    app_ref: AppRef,
    cert: Annotated[
        Path | None, typer.Option("--cert", metavar="FILE", help="PEM certificate to register (public part)", exists=True, dir_okay=False)
    ] = None,
    create_cert: Annotated[
        Path | None,
        typer.Option(
            "--create-cert", metavar="FILE", help="Create a self-signed certificate, write key+certificate PEM here (0600), register it"
        ),
    ] = None,
    name: Annotated[str, typer.Option("--name", metavar="TEXT", help="Display name")] = "",
    state: StateFile = None,
    output: o.Output = None,
    debug: o.Debug = False,
) -> None:
    """Register a certificate (keyCredentials) for certificate-assertion logins."""
    from .runner import run

    def action(fmt: str) -> Result[NewCertificate]:
        from azsqlctl.core.errors import UsageError
        from azsqlctl.sandbox.entra import manage

        from .render import Result

        if (cert is None) == (create_cert is None):
            raise UsageError(
                "pass exactly one of --cert FILE or --create-cert FILE", "e.g. --create-cert ./ci-cert.pem", code="bad_certificate"
            )
        data = cast("NewCertificate", manage.add_certificate(_path(state), app_ref, cert, create_cert, name))

        def human(d: NewCertificate) -> None:
            where = f"; key and certificate written to {d['file']}" if d["file"] else ""
            print(f"Certificate {d['thumbprint']} registered for {d['client_id']}, expires {d['end']}{where}")

        return Result("sandbox app add-certificate", data, human=human)

    run("sandbox app add-certificate", output, debug, action)


@app.command("add-federated-credential")
def add_federated_credential_command(
    app_ref: AppRef,
    name: Annotated[str, typer.Option("--name", metavar="NAME", help="3-120 characters: letters, digits, - and _")],
    issuer: Annotated[str, typer.Option("--issuer", metavar="URL", help="Must equal the token's iss exactly (a trailing slash matters)")],
    subject: Annotated[str, typer.Option("--subject", metavar="SUBJECT", help="Must equal the token's sub exactly (case-sensitive)")],
    audience: Annotated[str, typer.Option("--audience", metavar="AUDIENCE", help="The one audience")] = TOKEN_EXCHANGE,
    description: Annotated[str, typer.Option("--description", metavar="TEXT")] = "",
    state: StateFile = None,
    output: o.Output = None,
    debug: o.Debug = False,
) -> None:
    """Trust tokens from an external issuer (GitHub Actions, AKS, Azure Pipelines): at most 20 per app."""
    from .runner import run

    def action(fmt: str) -> Result[NewFederated]:
        from azsqlctl.sandbox.entra import manage

        from .render import Result

        data = cast("NewFederated", manage.add_federated_credential(_path(state), app_ref, name, issuer, subject, audience, description))

        def human(d: NewFederated) -> None:
            print(f"Federated credential {d['name']} on {d['client_id']}: issuer {d['issuer']}, subject {d['subject']}")

        return Result("sandbox app add-federated-credential", data, human=human)

    run("sandbox app add-federated-credential", output, debug, action)
