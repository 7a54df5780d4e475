"""A small authoritative DNS server on loopback for the mailauth tests.

Zone: {name: [(type, value), ...]} with types "A", "AAAA", "MX" ("10 mx.x"),
"TXT" (one record; a list of strings for several character-strings),
"PTR", "CNAME", or ("SERVFAIL", None) to make every query for the name
fail, ("TIMEOUT", None) to never answer. Unknown names are NXDOMAIN; known
names without records of the type are NOERROR/NODATA. UDP and TCP on one
port (TCP for replies over 512 bytes). Counts queries per (name, type).
"""

import collections
import socket
import threading

from dnslib import AAAA, CNAME, MX, PTR, QTYPE, RCODE, RR, TXT, A, DNSLabel
from dnslib.server import BaseResolver, DNSLogger, DNSServer


def _free_port():
    # A port free for both UDP and TCP.
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            with socket.socket() as t:
                try:
                    t.bind(("127.0.0.1", port))
                    return port
                except OSError:
                    continue
    raise RuntimeError("no free port")


class _Silent(DNSLogger):
    def __init__(self):
        super().__init__(log="-request,-reply,-truncated,-error,-recv,-send,-data")


class _Drop(Exception):
    pass


class ZoneResolver(BaseResolver):
    def __init__(self, zone):
        self.zone = {}
        self.queries = collections.Counter()
        self.lock = threading.Lock()
        self.set_zone(zone)

    def set_zone(self, zone):
        with self.lock:
            self.zone = {k.lower().rstrip("."): v for k, v in zone.items()}

    def resolve(self, request, handler):
        reply = request.reply()
        qname = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        with self.lock:
            self.queries[(qname, qtype)] += 1
            records = self.zone.get(qname)
            # Follow one CNAME level, as an authoritative server would add it.
            if records is not None and qtype != "CNAME":
                for t, v in records:
                    if t == "CNAME":
                        reply.add_answer(RR(request.q.qname, QTYPE.CNAME, rdata=CNAME(v), ttl=60))
                        qname = v.rstrip(".").lower()
                        records = self.zone.get(qname)
                        break
        if records is None:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for t, v in records:
            if t == "SERVFAIL":
                reply.header.rcode = RCODE.SERVFAIL
                return reply
            if t == "TIMEOUT":
                raise _Drop()
        for t, v in records:
            if t != qtype:
                continue
            if t == "A":
                rd = A(v)
            elif t == "AAAA":
                rd = AAAA(v)
            elif t == "MX":
                pref, host = v.split()
                rd = MX(host, int(pref))
            elif t == "TXT":
                parts = v if isinstance(v, list) else [v[i:i + 255] for i in range(0, len(v), 255)] or [""]
                rd = TXT([p.encode() if isinstance(p, str) else p for p in parts])
            elif t == "PTR":
                rd = PTR(v)
            else:
                continue
            reply.add_answer(RR(DNSLabel(qname), getattr(QTYPE, t), rdata=rd, ttl=60))
        return reply


class _Handler(__import__("dnslib.server", fromlist=["DNSHandler"]).DNSHandler):
    def handle(self):
        try:
            super().handle()
        except _Drop:
            pass


class DnsServer:
    def __init__(self, zone=None):
        self.resolver = ZoneResolver(zone or {})
        self.port = _free_port()
        logger = _Silent()
        self.udp = DNSServer(self.resolver, address="127.0.0.1", port=self.port, logger=logger,
                             handler=_Handler)
        self.tcp = DNSServer(self.resolver, address="127.0.0.1", port=self.port, tcp=True,
                             logger=logger, handler=_Handler)
        self.udp.start_thread()
        self.tcp.start_thread()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def set_zone(self, zone):
        self.resolver.set_zone(zone)

    def stop(self):
        self.udp.stop()
        self.tcp.stop()
        self.udp.server.server_close()
        self.tcp.server.server_close()
