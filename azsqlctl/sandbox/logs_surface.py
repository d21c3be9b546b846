"""The Log Analytics query endpoint as one sandbox surface (registered in ``surfaces.SURFACES``)."""

from __future__ import annotations

from .certs import server_context
from .http import HttpEndpoint
from .loganalytics import LOGS_RESOURCE, LogAnalyticsService, start_logs_endpoint
from .surfaces import Parts, Surface


class LogsSurface(Surface):
    """``POST /v1/workspaces/{id}/query`` and ``/v1{resourceId}/query`` over HTTPS (sandbox CA)."""

    name = "logs"
    fault_kinds = frozenset({"delay", "error500", "throttle429", "duplicate", "partial"})
    port_option = "--logs-port"

    def __init__(self, parts: Parts) -> None:
        super().__init__(parts)
        self.service = LogAnalyticsService(parts.store, parts.store.audit, parts.issuer, parts.faults)
        self.http: HttpEndpoint | None = None

    def _listen(self, port: int) -> None:
        self.http = start_logs_endpoint(self.service, server_context(self.parts.certs, tds=False), port)

    def stop(self) -> None:
        if self.http is not None:
            self.http.stop()

    def env(self) -> dict[str, str]:
        assert self.http is not None, "Log Analytics endpoint not started"
        workspace = self.parts.store.read(lambda s: s.monitor.workspaces[0].customer_id if s.monitor.workspaces else "")
        return {
            "AZSQLCTL_LOGS_ENDPOINT": self.http.url,
            "AZSQLCTL_LOGS_RESOURCE": LOGS_RESOURCE,
            # The sandbox workspace's customer id (what `azsqlctl logs --workspace` takes).
            "AZSQLCTL_LOGS_WORKSPACE": workspace,
        }
