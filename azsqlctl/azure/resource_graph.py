"""GraphPort over azure-mgmt-resourcegraph: paged with $skipToken, throttling honoured.

The SDK sends ``resultFormat: objectArray``; pages are requested until no ``$skipToken`` comes back.
Every answer carries ``x-ms-user-quota-remaining`` and ``x-ms-user-quota-resets-after``: at 0 the next
page waits for the reset instead of earning a 429. A 429 with ``Retry-After`` is retried by azure-core
itself (3 times); after that this adapter waits ``Retry-After`` and tries again, a bounded number of times.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, cast

from azsqlctl.core.clouds import Cloud
from azsqlctl.core.errors import AzsqlctlError
from azsqlctl.core.grant.fleet import GraphAnswer

from .arm_errors import arm_failure

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.core.pipeline import PipelineResponse
    from azure.core.pipeline.transport import HttpRequest, HttpResponse
    from azure.mgmt.resourcegraph.models import QueryRequest, QueryResponse

    Page = tuple[QueryResponse, Mapping[str, str]]

PAGE = 1000  # rows per page: the service's maximum
MAX_PAGES = 200  # 200,000 rows: a guard against a service that keeps answering with a token
THROTTLE_RETRIES = 4  # after azure-core's own three


def resets_after(value: str) -> float:
    """``x-ms-user-quota-resets-after`` (hh:mm:ss) in seconds; 1 when unreadable."""
    try:
        h, m, s = (float(part) for part in value.split(":"))
    except ValueError:
        return 1.0
    return h * 3600 + m * 60 + s


def _with_headers(pipeline: PipelineResponse[HttpRequest, HttpResponse], body: QueryResponse, _declared: Mapping[str, str]) -> Page:
    """The SDK's ``cls`` hook: the deserialised answer and the HTTP response's headers (the quota headers
    are not in the operation's declared headers, which the SDK passes as the third argument)."""
    return body, pipeline.http_response.headers


class ResourceGraph:
    def __init__(self, credential: TokenCredential, cloud: Cloud, sleep: Callable[[float], None] = time.sleep, page: int = PAGE) -> None:
        from azure.mgmt.resourcegraph import ResourceGraphClient

        self.client = ResourceGraphClient(
            credential, base_url=cloud.arm_endpoint, credential_scopes=[cloud.arm_scope], connection_verify=cloud.ca_bundle or True
        )
        self.sleep, self.page = sleep, page

    def _page(self, request: QueryRequest) -> tuple[QueryResponse, Mapping[str, str], int]:
        from azure.core.exceptions import HttpResponseError

        waited = 0
        while True:
            try:
                # cls: (body, headers); the SDK's annotation does not follow cls
                answer = cast("Page", self.client.resources(request, cls=_with_headers))
                return answer[0], answer[1], waited
            except HttpResponseError as exc:
                if exc.status_code != 429 or waited >= THROTTLE_RETRIES:
                    if exc.status_code == 429:
                        raise AzsqlctlError(
                            f"Resource Graph kept throttling this client (429 RateLimiting after {waited} waits)",
                            "run again later, or narrow select to fewer subscriptions",
                            code="graph_throttled",
                        ) from None
                    failure = arm_failure(exc)
                    details = [f"{d.code}: {d.message}" for d in getattr(getattr(exc, "error", None), "details", None) or [] if d.code]
                    if details:  # InvalidQuery / ParserFailure say what was wrong; the top message only asks for support
                        failure.message = f"Resource Graph refused the query: {'; '.join(details)}"
                    raise failure from None
                said: Mapping[str, str] = getattr(exc.response, "headers", None) or {}
                self.sleep(float(said.get("Retry-After") or resets_after(said.get("x-ms-user-quota-resets-after", ""))))
                waited += 1

    def query(self, kql: str, subscriptions: Sequence[str], management_groups: Sequence[str]) -> GraphAnswer:
        from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

        rows: list[Mapping[str, object]] = []
        token: str | None = None
        pages = throttled = 0
        truncated = False
        while pages < MAX_PAGES:
            request = QueryRequest(
                subscriptions=list(subscriptions) or None, management_groups=list(management_groups) or None, query=kql,
                options=QueryRequestOptions(top=self.page, skip_token=token, result_format="objectArray"),
            )  # fmt: skip
            response, headers, waited = self._page(request)
            pages += 1
            throttled += waited
            data: object = response.data  # objectArray: a list of rows (typed by the SDK as one JSON object)
            rows += [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []
            truncated = str(response.result_truncated or "").lower() == "true"
            token = response.skip_token
            if not token:
                break
            if headers.get("x-ms-user-quota-remaining") == "0":  # the quota is spent: wait for it rather than a 429
                self.sleep(resets_after(headers.get("x-ms-user-quota-resets-after", "")))
                throttled += 1
        return GraphAnswer(tuple(rows), pages, throttled, truncated or bool(token))
