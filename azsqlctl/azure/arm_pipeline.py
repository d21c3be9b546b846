"""Raw ARM requests over azure-core's pipeline: the one way azsqlctl GETs an ARM resource it has no SDK model for.

doctor's reads (server, firewall rules, database) and grant's --identity-resource go through here; azure-mgmt-sql,
azure-mgmt-monitor and Resource Graph bring their own pipeline. Both kinds use the same policies (retry bounded
by the command's timeout, bearer token, request id, HTTP logging under --debug) and the one ARM error mapping
(``arm_errors``). azure-core's PipelineClient, not azure-mgmt-core's ARMPipelineClient: the latter imports
asyncio (~20 ms of doctor's start) and its challenge policy is azure-core's BearerTokenCredentialPolicy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from azsqlctl.core.clouds import Cloud
from azsqlctl.core.errors import NotFound
from azsqlctl.core.ports import TokenSource

from .arm_errors import arm_refusal, body_message

if TYPE_CHECKING:
    from azure.core import PipelineClient
    from azure.core.credentials import AccessToken as SdkAccessToken
    from azure.core.credentials import TokenCredential
    from azure.core.rest import HttpRequest, HttpResponse

Json = Mapping[str, object]
REFRESH_MARGIN_S = 300  # a cached token is renewed this long before it expires


class TokenSourceCredential:
    """azure-core's TokenCredential over core's TokenSource, one token request however many requests start at once.

    azure-core's bearer policy caches its token but does not serialize the first request: doctor's three parallel
    GETs would each ask the token endpoint. A claims challenge (CAE) cannot be passed through a TokenSource; the
    cached token is dropped and a fresh one asked for instead.
    """

    def __init__(self, tokens: TokenSource) -> None:
        self._tokens = tokens
        self._lock = threading.Lock()
        self._cached: dict[str, SdkAccessToken] = {}

    def get_token(
        self, *scopes: str, claims: str | None = None, tenant_id: str | None = None, enable_cae: bool = False, **kwargs: object
    ) -> SdkAccessToken:
        from azure.core.credentials import AccessToken as SdkAccessToken

        scope = scopes[0]
        with self._lock:
            cached = self._cached.get(scope)
            if cached is None or claims or cached.expires_on - REFRESH_MARGIN_S <= time.time():
                token = self._tokens.token(scope)
                cached = self._cached[scope] = SdkAccessToken(token.token, token.expires_on)
            return cached


class ArmPipeline:
    """GETs against one cloud's ARM endpoint: JSON bodies, 404 as None, every other failure mapped once."""

    def __init__(self, credential: TokenCredential, cloud: Cloud, timeout: float) -> None:
        from azure.core import PipelineClient
        from azure.core.pipeline import policies
        from azure.core.pipeline.transport import RequestsTransport

        from .shared_tls import shared_context_session
        from .transport import client_options

        self.cloud, self.timeout = cloud, timeout
        self.endpoint = cloud.arm_endpoint.rstrip("/")
        options = client_options(timeout)
        transport = RequestsTransport(
            session=shared_context_session(cloud.ca_bundle, self.endpoint), session_owner=False,
            connection_timeout=timeout, read_timeout=timeout, **({"connection_verify": cloud.ca_bundle} if cloud.ca_bundle else {}),
        )  # fmt: skip
        self._client: PipelineClient[HttpRequest, HttpResponse] = PipelineClient(
            base_url=self.endpoint,
            transport=transport,
            policies=[
                policies.RequestIdPolicy(), policies.HeadersPolicy(), policies.UserAgentPolicy("azsqlctl"),
                policies.RetryPolicy(**options), policies.BearerTokenCredentialPolicy(credential, cloud.arm_scope),
                policies.ContentDecodePolicy(), policies.NetworkTraceLoggingPolicy(), policies.HttpLoggingPolicy(),
            ],
        )  # fmt: skip

    def send(self, path: str, api_version: str) -> tuple[int, Json]:
        """GET ``path`` (under the ARM endpoint): its status and JSON object body (empty when not one)."""
        return self._send_url(f"{self.endpoint}{path}", {"api-version": api_version})

    def values(self, path: str, api_version: str, check: Callable[[int, Json], None]) -> list[Json]:
        """A collection's ``value`` entries over every page (ARM's ``nextLink`` carries its own query), as the SDKs'
        pagers read them; ``check`` sees each page's status and body first, and raises for a failed one."""
        status, body = self.send(path, api_version)
        entries: list[Json] = []
        while True:
            check(status, body)
            listed = body.get("value")
            entries += [e for e in listed if isinstance(e, dict)] if isinstance(listed, list) else []
            next_link = body.get("nextLink")
            if not isinstance(next_link, str) or not next_link:
                return entries
            status, body = self._send_url(next_link, {})

    def _send_url(self, url: str, params: dict[str, str]) -> tuple[int, Json]:
        from azure.core.exceptions import ServiceRequestError, ServiceResponseError
        from azure.core.rest import HttpRequest

        from azsqlctl.core.transport import Endpoint

        from .transport import endpoint_failure

        request = HttpRequest("GET", url, params=params)
        try:
            response = self._client.send_request(request)
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise endpoint_failure(Endpoint.ARM, self.cloud.arm_endpoint, exc, self.timeout) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        return response.status_code, body if isinstance(body, dict) else {}

    def get(self, path: str, api_version: str) -> Json | None:
        """The JSON body of ``path`` (a path under the ARM endpoint), or None for 404."""
        status, body = self.send(path, api_version)
        if status == 404:
            return None
        if status >= 400:
            raise arm_refusal(status, body_message(body))
        return body

    def require(self, path: str, api_version: str, hint: str) -> Json:
        """The JSON body of ``path``; a 404 is NotFound with ARM's own words and ``hint``."""
        status, body = self.send(path, api_version)
        if status == 404:
            raise NotFound(f"ARM: {body_message(body)}", hint)
        if status >= 400:
            raise arm_refusal(status, body_message(body))
        return body
