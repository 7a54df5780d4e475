"""HAProxy PROXY protocol v1/v2, accepted only from trusted networks; the
real client address is then used for logs and limits."""

import socket
import struct

import pytest

from conftest import LineClient

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2_header(src, dst, sport, dport, command=0x21):
    addrs = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return V2_SIG + bytes([command, 0x11]) + struct.pack("!H", len(addrs)) + addrs


@pytest.fixture
def proxied(make_sandbox):
    return make_sandbox({("server", "haproxy_trusted_networks"): "127.0.0.2/32",
                         ("limits", "max_connections_per_ip"): "2"}).start("imapd")


def test_v1_header_sets_client_address(proxied):
    c = LineClient(proxied.ports["imap"], source="127.0.0.2")
    c.send("PROXY TCP4 192.0.2.7 127.0.0.1 55555 143\r\n")
    assert c.line().startswith("* OK [CAPABILITY ")
    assert c.cmd("a NOOP") == ["a OK NOOP completed."]
    c.cmd("b LOGIN x y")
    assert "ip=192.0.2.7" in proxied.log("imapd")


def test_v2_header_and_per_ip_limit_uses_real_address(proxied):
    clients = []
    for i in range(2):
        c = LineClient(proxied.ports["imap"], source="127.0.0.2")
        c.send(v2_header("198.51.100.9", "127.0.0.1", 40000 + i, 143))
        assert c.line().startswith("* OK ")
        clients.append(c)
    third = LineClient(proxied.ports["imap"], source="127.0.0.2")
    third.send(v2_header("198.51.100.9", "127.0.0.1", 40009, 143))
    assert third.expect_closed() == "* BYE Too many connections from your address\r\n"
    # A different real client behind the same proxy is fine.
    other = LineClient(proxied.ports["imap"], source="127.0.0.2")
    other.send(v2_header("198.51.100.10", "127.0.0.1", 40010, 143))
    assert other.line().startswith("* OK ")


def test_v2_local_keeps_proxy_address(proxied):
    c = LineClient(proxied.ports["imap"], source="127.0.0.2")
    c.send(V2_SIG + bytes([0x20, 0x00]) + struct.pack("!H", 0) + b"a NOOP\r\n")
    assert c.line().startswith("* OK ")
    assert c.line() == "a OK NOOP completed."


def test_trusted_network_without_header_is_dropped(proxied):
    c = LineClient(proxied.ports["imap"], source="127.0.0.2")
    c.send("a NOOP\r\n")
    assert c.expect_closed() == ""
    assert "bad PROXY header" in proxied.log("imapd")


def test_untrusted_client_cannot_spoof(proxied):
    c = LineClient(proxied.ports["imap"])  # from 127.0.0.1, not trusted
    assert c.line().startswith("* OK ")
    c.send("PROXY TCP4 203.0.113.5 127.0.0.1 1 143\r\n")
    assert c.line() == "PROXY BAD Unknown command."
    assert "ip=203.0.113.5" not in proxied.log("imapd")
