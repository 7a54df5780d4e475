"""petrel-lmtpd session layer: greeting, LHLO, NOOP, RSET, QUIT, errors -
with smtplib.LMTP over TCP and the unix socket, and raw bytes."""

import os
import smtplib

import pytest

from conftest import LineClient


# From 127.0.0.1, a trusted network for XFORWARD/XCLIENT by default.
LHLO_REPLY = ["250-localhost", "250-PIPELINING", "250-ENHANCEDSTATUSCODES", "250-8BITMIME",
              "250-SMTPUTF8", "250-CHUNKING", "250-SIZE 52428800",
              "250-XFORWARD NAME ADDR PROTO HELO", "250 XCLIENT ADDR NAME HELO PROTO"]


@pytest.fixture
def lmtp(make_sandbox):
    return make_sandbox().start("lmtpd")


def test_session_bytes(lmtp):
    c = LineClient(lmtp.ports["lmtp"])
    assert c.line() == "220 localhost Petrel LMTP ready"
    assert c.cmd("LHLO mx.example.test", prefix="250 ") == LHLO_REPLY
    assert c.cmd("NOOP", prefix="250") == ["250 2.0.0 OK"]
    assert c.cmd("RSET", prefix="250") == ["250 2.0.0 OK"]
    assert c.cmd("QUIT", prefix="221") == ["221 2.0.0 localhost closing connection"]
    assert c.expect_closed() == ""


def test_smtplib_lmtp_over_tcp_and_unix_socket(lmtp):
    for target in [("127.0.0.1", lmtp.ports["lmtp"]), (os.path.join(lmtp.dir, "run", "lmtp.sock"), 0)]:
        s = smtplib.LMTP(*target)
        code, msg = s.ehlo("mx.example.test")  # smtplib.LMTP sends LHLO here
        assert code == 250
        assert s.has_extn("pipelining") and s.has_extn("enhancedstatuscodes")
        assert s.noop() == (250, b"2.0.0 OK")
        assert s.rset() == (250, b"2.0.0 OK")
        s.quit()


def test_errors(lmtp):
    c = LineClient(lmtp.ports["lmtp"])
    c.line()
    assert c.cmd("HELO x", prefix="5") == ["500 5.5.1 This is LMTP: use LHLO."]
    assert c.cmd("EHLO x", prefix="5") == ["500 5.5.1 This is LMTP: use LHLO."]
    assert c.cmd("MAIL FROM:<a@example.test>", prefix="5") == ["503 5.5.1 Send LHLO first."]
    assert c.cmd("VRFY demo", prefix="2") == [
        "252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery."]
    assert c.cmd("LHLO", prefix="5") == ["501 5.5.4 Syntax: LHLO hostname"]
    # The name goes into Received: a bare CR (header injection), control
    # bytes and absurd lengths are refused.
    assert c.cmd("LHLO mx\rX-Injected:1", prefix="5") == ["501 5.5.4 Syntax: LHLO hostname"]
    assert c.cmd("LHLO mx\x01", prefix="5") == ["501 5.5.4 Syntax: LHLO hostname"]
    assert c.cmd("LHLO " + "a" * 256, prefix="5") == ["501 5.5.4 Syntax: LHLO hostname"]
    assert c.cmd("WHAT", prefix="5") == ["500 5.5.2 Unknown command."]
    assert c.cmd("RSET now", prefix="5") == ["501 5.5.4 RSET takes no arguments."]
    c.send("NOOP " + "x" * 20000 + "\r\n")
    assert c.line() == "500 5.5.2 Line too long."
    assert c.cmd("NOOP", prefix="2") == ["250 2.0.0 OK"]


def test_pipelined(lmtp):
    c = LineClient(lmtp.ports["lmtp"])
    c.line()
    c.send("LHLO a\r\nNOOP\r\nRSET\r\nQUIT\r\n")
    lines = c.expect_closed().split("\r\n")
    assert lines == LHLO_REPLY + ["250 2.0.0 OK", "250 2.0.0 OK",
                                  "221 2.0.0 localhost closing connection", ""]
