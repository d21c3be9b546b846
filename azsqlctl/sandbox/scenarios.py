"""Named sandbox scenarios: a fresh state set up for one of the docs' worked examples.

``azsqlctl sandbox run --scenario NAME -- …``, ``sandbox serve --scenario NAME`` and the pytest
plugin (``azsql_control.load_scenario(NAME)``) start from the default state and add what the
example needs, so every example runs as written and prints what the docs show:

- ``failed-logins``: the audit trail of three kinds of refused logins a minute ago, already ingested
  by Log Analytics (1 x billing-worker state 132: no user; 1 x orders-api from another tenant, state
  105; 12 x ``sa`` with a wrong password, state 8): the ``logs`` listing, ``--summary``, and doctor's
  "audit log, last hour" line.
- ``follow``: ``failed-logins``, and Log Analytics throttles its fourth query once (429 ThrottledError,
  Retry-After 2 s): ``logs --follow`` retrying, with a refusal made while it runs.
- ``no-monitoring``: server auditing Disabled and no diagnostic setting: ``logs`` saying nothing is
  set up yet, ``logs status`` and ``logs enable``.
- ``web-app``: a web app ``shop-web`` with a system-assigned managed identity, for
  ``grant --identity-resource …/Microsoft.Web/sites/shop-web``.
- ``fleet``: databases ``tenant_a``, ``tenant_b`` (with schema ``app``) and ``tenant_c`` (offline:
  40613), plus ``shop-web``, for ``grant --policy examples/fleet.toml``.

A scenario only ever adds to a fresh state (never to a sandbox someone is using): the CLI gives
it a state of its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from . import state as st
from .monitor.audit import LoginEvent
from .monitor.state import monitor_off

if TYPE_CHECKING:
    from .serve import Sandbox

__all__ = ["SCENARIOS", "Scenario", "load_scenario"]

SHOP_WEB_OBJECT_ID = "7a7a7a7a-0000-4000-8000-000000000001"
SHOP_WEB_CLIENT_ID = "7b7b7b7b-0000-4000-8000-000000000002"
OTHER_TENANT = "00000000-0000-0000-0000-000000000001"
APPLICATION = "python3.11"  # what the ODBC driver sent as the application name when these logins were made


class Scenario(StrEnum):
    FAILED_LOGINS = "failed-logins"
    FLEET = "fleet"
    FOLLOW = "follow"
    NO_MONITORING = "no-monitoring"
    WEB_APP = "web-app"


@dataclass(frozen=True)
class ScenarioSpec:
    summary: str
    setup: Callable[[Sandbox], None]


def _add_shop_web(s: st.SandboxState) -> None:
    if not any(i.name == "shop-web" for i in s.identities):
        s.identities.append(
            st.Identity("shop-web", "managed_identity", SHOP_WEB_OBJECT_ID, SHOP_WEB_CLIENT_ID, resource="Microsoft.Web/sites/shop-web")
        )


def _web_app(sandbox: Sandbox) -> None:
    with sandbox.store.mutate() as s:
        _add_shop_web(s)


def _fleet(sandbox: Sandbox) -> None:
    with sandbox.store.mutate() as s:
        _add_shop_web(s)
        s.server.databases += [
            st.Database("tenant_a", schemas=["dbo", "app"]),
            st.Database("tenant_b", schemas=["dbo", "app"]),
            st.Database("tenant_c", schemas=["dbo", "app"], available=False),
        ]


def _no_monitoring(sandbox: Sandbox) -> None:
    with sandbox.store.mutate() as s:
        s.monitor = monitor_off()


def _failed_logins(sandbox: Sandbox) -> None:
    tenant = sandbox.store.read(lambda s: s.tenant_id)
    refused_text = "Login failed for user '<token-identified principal>'."
    refusals = [
        (f"billing-worker@{tenant}", 132, refused_text),  # a valid token, no database user with its SID
        (f"orders-api@{OTHER_TENANT}", 105, refused_text),  # a token from a tenant that is not the server's
        *[("sa", 8, "Login failed for user 'sa'.")] * 12,  # a password guesser
    ]
    # A minute ago, 10 ms apart, and already ingested: visible to `logs` at once (the ingestion delay has passed).
    start = time.time() - 60.0
    for i, (principal, state, message) in enumerate(refusals):
        when = start + i * 0.01
        sandbox.store.audit.append(
            LoginEvent(when, False, principal, "appdb", "127.0.0.1", APPLICATION, "workstation", error=18456, severity=14,
                       state=state, message=message, received=when)
        )  # fmt: skip
    sandbox.store.audit.flush()


def _follow(sandbox: Sandbox) -> None:
    _failed_logins(sandbox)
    # The fourth query: --follow's first polls pass, then one 429 it must honour (Retry-After) and say so on stderr.
    sandbox.faults.inject("logs", "throttle429", 1, retry_after=2, after=3)


SCENARIOS: dict[Scenario, ScenarioSpec] = {
    Scenario.FAILED_LOGINS: ScenarioSpec(
        "14 refused logins of three kinds in the audit log (logs, logs --summary, doctor)", _failed_logins
    ),
    Scenario.FLEET: ScenarioSpec("tenant_a, tenant_b, tenant_c (offline) and shop-web (grant --policy examples/fleet.toml)", _fleet),
    Scenario.FOLLOW: ScenarioSpec("failed-logins, and one 429 from Log Analytics on its fourth query (logs --follow)", _follow),
    Scenario.NO_MONITORING: ScenarioSpec("auditing Disabled, no diagnostic setting (logs, logs status, logs enable)", _no_monitoring),
    Scenario.WEB_APP: ScenarioSpec("a web app shop-web with a system-assigned identity (grant --identity-resource)", _web_app),
}


def load_scenario(sandbox: Sandbox, name: Scenario | str) -> None:
    """Add scenario ``name`` to ``sandbox``'s state (and audit trail)."""
    SCENARIOS[Scenario(name)].setup(sandbox)
