"""Hostile clients: huge lines, connection floods, clients that never read.
Each gets a clear refusal, memory stays bounded, and everyone else is still
served."""

import socket
import threading
import time

import pytest

from conftest import MEMORY_BOUNDS, PASSWORD, USER, LineClient

TEN_MB = 10 * 1024 * 1024


def flood(port, payload_size, tail=b"", chunk=65536):
    """Sends payload_size bytes of 'A' (no line end) then tail; returns what
    the server said afterwards (until EOF or timeout)."""
    c = LineClient(port)
    greeting = c.line()
    block = b"A" * chunk
    sent = 0
    try:
        while sent < payload_size:
            c.sock.sendall(block)
            sent += len(block)
        c.sock.sendall(tail)
    except (BrokenPipeError, ConnectionResetError):
        pass
    return greeting, c


@pytest.mark.parametrize("daemon,port,expect", [
    ("imapd", "imap", "* BYE Line too long."),
    ("pop3d", "pop3", "-ERR Line too long."),
    ("lmtpd", "lmtp", "500 5.5.2 Line too long."),
])
def test_ten_megabyte_line(make_sandbox, daemon, port, expect):
    sb = make_sandbox().start(daemon)
    rss_before = sb.rss_kb(daemon)
    results = {}

    def attacker():
        results["greeting"], results["client"] = flood(sb.ports[port], TEN_MB, b"\r\nNOOP\r\n")

    t = threading.Thread(target=attacker)
    t.start()
    # Someone else is served while the flood is going on.
    other = LineClient(sb.ports[port])
    other.line()
    other.send("NOOP\r\n" if daemon != "imapd" else "x NOOP\r\n")
    assert other.line()
    t.join(60)
    assert not t.is_alive()
    c = results["client"]
    assert c.line() == expect
    if daemon == "imapd":
        # IMAP cannot resynchronise safely after an oversized line: it says
        # goodbye (as Dovecot does).
        c.expect_closed()
    else:
        # Line protocols resynchronise at the next line end and carry on.
        assert c.line() in ("-ERR Log in first.", "250 2.0.0 OK")
    if MEMORY_BOUNDS:
        assert sb.rss_kb(daemon) - rss_before < 8 * 1024


def test_connection_flood_from_one_address(make_sandbox):
    sb = make_sandbox({("limits", "max_connections_per_ip"): "100"}).start("imapd")
    # start() waits until its port probes are closed: none takes a slot.
    rss_before = sb.rss_kb("imapd")
    socks, refused, accepted = [], 0, 0
    for _ in range(2000):
        s = socket.create_connection(("127.0.0.1", sb.ports["imap"]), timeout=10)
        socks.append(s)
    for s in socks:
        line = s.makefile("rb").readline()
        if line == b"* BYE Too many connections from your address\r\n":
            refused += 1
        elif line.startswith(b"* OK "):
            accepted += 1
    assert accepted == 100 and refused == 1900
    # Another address is not affected.
    other = LineClient(sb.ports["imap"], source="127.0.0.2")
    assert other.line().startswith("* OK ")
    assert other.cmd("a NOOP") == ["a OK NOOP completed."]
    rss_growth = sb.rss_kb("imapd") - rss_before
    for s in socks:
        s.close()
    if MEMORY_BOUNDS:
        assert rss_growth < 20 * 1024, rss_growth
    assert "Too many connections from your address" in sb.log("imapd")


def test_total_connection_limit(make_sandbox):
    sb = make_sandbox({("limits", "max_connections"): "20"}).start("pop3d")
    time.sleep(0.3)  # let the start-up probe connection go away
    clients = [LineClient(sb.ports["pop3"]) for _ in range(20)]
    for c in clients:
        assert c.line() == "+OK Petrel ready."
    extra = LineClient(sb.ports["pop3"])
    assert extra.expect_closed() == "-ERR [SYS/TEMP] Server is busy: too many connections\r\n"
    clients[0].cmd("QUIT", prefix="+OK")
    clients[0].expect_closed()
    clients[0].close()
    time.sleep(0.2)
    again = LineClient(sb.ports["pop3"])
    assert again.line() == "+OK Petrel ready."


def test_lmtp_refusal_code(make_sandbox):
    sb = make_sandbox({("limits", "max_connections_per_ip"): "1"}).start("lmtpd")
    time.sleep(0.3)  # let the start-up probe connection go away
    first = LineClient(sb.ports["lmtp"])
    assert first.line().startswith("220 ")
    second = LineClient(sb.ports["lmtp"])
    assert second.expect_closed() == "421 4.3.2 Too many connections from your address\r\n"


def test_client_that_never_reads(make_sandbox):
    """Pipelines commands without reading a byte: the server stops reading
    once its output queue passes the high-water mark, so its memory stays
    bounded, and other clients are unaffected."""
    sb = make_sandbox().start("imapd")
    rss_before = sb.rss_kb("imapd")
    c = LineClient(sb.ports["imap"])
    c.line()
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.sock.settimeout(3)
    block = b"a CAPABILITY\r\n" * 4096
    sent = 0
    try:
        for _ in range(2000):  # up to ~115 MB; the server stops reading long before
            c.sock.sendall(block)
            sent += len(block)
    except socket.timeout:
        pass
    assert sent < 100 * 1024 * 1024, "server kept reading everything"
    other = LineClient(sb.ports["imap"])
    other.line()
    assert other.cmd("b NOOP") == ["b OK NOOP completed."]
    growth = sb.rss_kb("imapd") - rss_before
    if MEMORY_BOUNDS:
        assert growth < 8 * 1024, growth
    c.close()


def test_many_bad_commands_do_not_affect_others(make_sandbox):
    sb = make_sandbox().start("imapd")
    bad = LineClient(sb.ports["imap"])
    bad.line()
    bad.send(b"\x00\xff\x01 garbage\r\n" * 20)
    text = bad.expect_closed()
    assert text.count("* BAD") + text.count(" BAD ") >= 10
    assert text.endswith("* BYE Too many invalid commands.\r\n")
    good = LineClient(sb.ports["imaps"], tls=True)
    good.line()
    assert good.cmd("a LOGIN %s %s" % (USER, PASSWORD))[-1].startswith("a OK")


def test_tls_garbage_on_implicit_port(make_sandbox):
    sb = make_sandbox().start("imapd")
    c = LineClient(sb.ports["imaps"])
    c.send("a LOGIN x y\r\n")  # plaintext to the TLS port
    data = c.expect_closed()
    assert "OK" not in data
    assert "TLS" in sb.log("imapd")
    good = LineClient(sb.ports["imaps"], tls=True)
    assert good.line().startswith("* OK ")


@pytest.mark.parametrize("tls", [False, True])
def test_late_reader_gets_every_response(make_sandbox, tls):
    """Backpressure must resume: a client that pipelines far more than the
    output buffer holds, reading only afterwards (and slowly), still gets
    every response, in order."""
    sb = make_sandbox({("limits", "output_buffer_size"): "16k"}).start("imapd")
    c = LineClient(sb.ports["imaps" if tls else "imap"], tls=tls, timeout=30)
    c.line()
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    n = 20000
    done = threading.Event()

    def writer():
        for i in range(0, n, 500):
            c.sock.sendall("".join("t%d NOOP\r\n" % k for k in range(i, i + 500)).encode())
        done.set()

    t = threading.Thread(target=writer)
    t.start()
    time.sleep(1.0)  # let the server hit the high-water mark and stop reading
    for k in range(n):
        if k % 2000 == 0:
            time.sleep(0.05)  # read in bursts, slower than the server writes
        assert c.line() == "t%d OK NOOP completed." % k
    t.join(30)
    assert done.is_set()
