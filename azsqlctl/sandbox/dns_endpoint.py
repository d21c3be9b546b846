"""A DNS server for the sandbox's names, so DNS behaviour is testable without the network.

Custom clouds may name a DNS server (``AZSQLCTL_DNS_SERVER``); doctor then resolves
through it. It answers A queries for ``localhost`` and ``<server>.localhost``, with
Azure's private-link shape when the state has a private endpoint:
``<name>`` CNAME ``<server>.privatelink.localhost`` A ``<private_endpoint_ip>``.
"""

from __future__ import annotations

import socketserver
import threading
import time
from typing import Any

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from .faults import Faults
from .store import StateStore

TTL = 30


class DnsService:
    def __init__(self, store: StateStore, faults: Faults, zone: str = "localhost") -> None:
        self.store, self.faults, self.zone = store, faults, zone.rstrip(".")
        self.queries = 0

    def answer(self, wire: bytes) -> bytes:
        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query)
        self.queries += 1
        fault = self.faults.take("dns", {"delay", "nxdomain", "servfail"})
        if fault is not None:
            if fault.kind == "delay":
                time.sleep(fault.delay)
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


def start_dns_endpoint(service: DnsService, port: int = 0) -> Any:
    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data, sock = self.request
            try:
                reply = service.answer(data)
            except Exception:  # noqa: BLE001 - a malformed query gets no answer, like a real server
                return
            sock.sendto(reply, self.client_address)

    class Server(socketserver.ThreadingUDPServer):
        daemon_threads = True
        block_on_close = False

    udp = Server(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=udp.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()

    class Endpoint:
        host, port = udp.server_address[0], int(udp.server_address[1])

        @staticmethod
        def stop() -> None:
            udp.shutdown()
            udp.server_close()
            thread.join(timeout=5)

    return Endpoint()
