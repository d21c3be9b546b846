"""A DNS server for the sandbox's names, so DNS behaviour is testable without the network.

Custom clouds may name a DNS server (``AZSQLCTL_DNS_SERVER``); doctor then resolves
through it. It answers A queries for ``localhost`` and ``<server>.localhost``, with
Azure's private-link shape when the state has a private endpoint:
``<name>`` CNAME ``<server>.privatelink.localhost`` A ``<private_endpoint_ip>``.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

from ..faults import Faults
from ..store import StateStore

TTL = 30


class DnsService:
    def __init__(self, store: StateStore, faults: Faults, zone: str = "localhost") -> None:
        self.store, self.faults, self.zone = store, faults, zone.rstrip(".")
        self.queries = 0

    def answer(self, wire: bytes) -> bytes:
        # dnspython (~20 ms of CPU to import) on the first query, not at every sandbox start: only a custom cloud's
        # DNS check (doctor with AZSQLCTL_DNS_SERVER) asks. The listener imports it before it starts the first
        # query's thread (``DnsEndpoint._loop``), so two queries never import it at once.
        import dns.message
        import dns.name
        import dns.rcode
        import dns.rdatatype
        import dns.rrset

        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query)
        self.queries += 1
        fault = self.faults.take("dns", {"delay", "nxdomain", "servfail"})
        if fault is not None:
            if fault.kind == "delay":
                self.faults.sleep(fault.delay)
            else:
                response.set_rcode(dns.rcode.NXDOMAIN if fault.kind == "nxdomain" else dns.rcode.SERVFAIL)
                return bytes(response.to_wire())
        question = query.question[0]
        name = question.name.to_text().rstrip(".").lower()
        server, private_ip = self.store.read(lambda s: (s.server.name.lower(), s.server.private_endpoint_ip))
        if name not in (self.zone, f"{server}.{self.zone}"):
            response.set_rcode(dns.rcode.NXDOMAIN)
            return bytes(response.to_wire())
        target = question.name
        if private_ip:
            alias = f"{server}.privatelink.{self.zone}."
            response.answer.append(dns.rrset.from_text(question.name, TTL, "IN", "CNAME", alias))
            target = dns.name.from_text(alias)
        if question.rdtype == dns.rdatatype.A:
            response.answer.append(dns.rrset.from_text(target, TTL, "IN", "A", private_ip or "127.0.0.1"))
        return bytes(response.to_wire())


class DnsEndpoint:
    """A UDP listener: one thread blocked in recvfrom(), a thread per query (a delay fault
    must not hold up other queries); stop() wakes the listener at once, without polling."""

    def __init__(self, service: DnsService, host: str = "127.0.0.1", port: int = 0) -> None:
        self.service = service
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.host, self.port = str(self.sock.getsockname()[0]), int(self.sock.getsockname()[1])
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"dns-{self.port}", daemon=True)

    def start(self) -> DnsEndpoint:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                if self._stopping.is_set():
                    return
                continue
            if self._stopping.is_set():
                return
            import dns.message  # noqa: F401 - before the first query's thread: see DnsService.answer

            threading.Thread(target=self._answer, args=(data, peer), daemon=True).start()

    def _answer(self, data: bytes, peer: Any) -> None:
        try:
            reply = self.service.answer(data)
        except Exception:  # noqa: BLE001 - a malformed query gets no answer, like a real server
            return
        with contextlib.suppress(OSError):
            self.sock.sendto(reply, peer)

    def stop(self) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes recvfrom (raises ENOTCONN, wakes anyway)
        self._thread.join(timeout=5)
        self.sock.close()


def start_dns_endpoint(service: DnsService, port: int = 0) -> DnsEndpoint:
    return DnsEndpoint(service, port=port).start()
