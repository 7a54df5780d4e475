"""petrel-pop3d, AUTHORIZATION state: greeting, CAPA, STLS, USER/PASS, AUTH,
QUIT and errors - with Python's poplib and raw bytes."""

import base64
import poplib
import time

import pytest

from conftest import PASSWORD, USER, LineClient, tls_context

CAPA_PLAIN = ["+OK Capability list follows", "TOP", "UIDL", "SASL SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5",
              "STLS",
              "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "IMPLEMENTATION Petrel", "."]
CAPA_TLS = ["+OK Capability list follows", "TOP", "UIDL", "USER",
            "SASL PLAIN LOGIN SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5",
            "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "IMPLEMENTATION Petrel", "."]
PLAINTEXT_REFUSED = ("-ERR [AUTH] Plaintext authentication disallowed on non-secure connections. "
                     "Use STLS or port 995.")


@pytest.fixture
def pop3(make_sandbox):
    return make_sandbox().start("pop3d")


def test_greeting_and_capa_bytes(pop3):
    c = LineClient(pop3.ports["pop3"])
    assert c.line() == "+OK Petrel ready."
    assert c.cmd("CAPA", prefix=".") == CAPA_PLAIN
    assert c.cmd("QUIT", prefix="+OK") == ["+OK Logging out."]
    assert c.expect_closed() == ""


def test_user_refused_before_stls_then_login(pop3):
    p = poplib.POP3("127.0.0.1", pop3.ports["pop3"])
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\] Plaintext"):
        p.user(USER)
    p.stls(context=tls_context())
    caps = p.capa()
    assert "USER" in caps and "STLS" not in caps
    assert p.user(USER) == b"+OK Send PASS now."
    assert p.pass_(PASSWORD) == b"+OK Logged in."
    assert p.noop() == b"+OK NOOP"
    assert p.quit() == b"+OK Logging out."


def test_pop3s_capa_and_login(pop3):
    c = LineClient(pop3.ports["pop3s"], tls=True)
    c.line()
    assert c.cmd("CAPA", prefix=".") == CAPA_TLS
    assert c.cmd("USER Demo@Example.test", prefix="") == ["+OK Send PASS now."]
    assert c.cmd("PASS " + PASSWORD, prefix="") == ["+OK Logged in."]
    # After login CAPA no longer offers authentication.
    assert c.cmd("CAPA", prefix=".") == ["+OK Capability list follows", "TOP", "UIDL", "RESP-CODES",
                                         "AUTH-RESP-CODE", "PIPELINING", "IMPLEMENTATION Petrel", "."]


def test_auth_forms(pop3):
    c = LineClient(pop3.ports["pop3s"], tls=True)
    c.line()
    assert c.cmd("AUTH", prefix=".") == ["+OK", "PLAIN", "LOGIN", "SCRAM-SHA-256", "SCRAM-SHA-1",
                                         "CRAM-MD5", "."]
    assert c.cmd("AUTH X-NONE", prefix="-") == ["-ERR Unsupported authentication mechanism."]
    c.send("AUTH PLAIN\r\n")
    assert c.line() == "+ "
    assert c.cmd("*", prefix="-") == ["-ERR Authentication cancelled."]
    ir = base64.b64encode(("\0%s\0%s" % (USER, PASSWORD)).encode()).decode()
    assert c.cmd("AUTH PLAIN " + ir, prefix="+OK") == ["+OK Logged in."]


def test_errors_and_states(pop3):
    c = LineClient(pop3.ports["pop3s"], tls=True)
    c.line()
    assert c.cmd("STAT", prefix="-") == ["-ERR Log in first."]
    assert c.cmd("PASS x", prefix="-") == ["-ERR Send USER first."]
    assert c.cmd("XYZZY", prefix="-") == ["-ERR Unknown command."]
    assert c.cmd("USER", prefix="-") == ["-ERR Expected: USER name."]
    c.send("USER %s\r\n" % USER)
    c.line()
    t = time.monotonic()
    assert c.cmd("PASS wrong", prefix="-") == ["-ERR [AUTH] Authentication failed."]
    assert time.monotonic() - t >= 0.09
    # The failed PASS consumed the USER.
    assert c.cmd("PASS " + PASSWORD, prefix="-") == ["-ERR Send USER first."]
    assert c.cmd("STLS", prefix="-") == ["-ERR TLS is already active."]


def test_password_with_spaces_is_the_rest_of_the_line(make_sandbox):
    sb = make_sandbox()
    sb.ctl("user", "add", "spaced@example.test", "--password", "two words ")
    sb.start("pop3d")
    c = LineClient(sb.ports["pop3s"], tls=True)
    c.line()
    c.cmd("USER spaced@example.test", prefix="+OK")
    assert c.cmd("PASS two words ", prefix="") == ["+OK Logged in."]


def test_pipelining(pop3):
    c = LineClient(pop3.ports["pop3s"], tls=True)
    c.line()
    c.send("USER %s\r\nPASS %s\r\nNOOP\r\nQUIT\r\n" % (USER, PASSWORD))
    assert [c.line() for _ in range(4)] == ["+OK Send PASS now.", "+OK Logged in.", "+OK NOOP",
                                            "+OK Logging out."]


def test_stls_discards_pipelined_plaintext(pop3):
    c = LineClient(pop3.ports["pop3"])
    c.line()
    c.send("STLS\r\nUSER evil@example.test\r\n")
    assert c.line() == "+OK Begin TLS negotiation now."
    c.starttls()
    # The injected USER never ran.
    assert c.cmd("PASS " + PASSWORD, prefix="-") == ["-ERR Send USER first."]


def test_line_too_long_then_continue(pop3):
    c = LineClient(pop3.ports["pop3"])
    c.line()
    c.send("NOOP " + "x" * 20000 + "\r\n")
    assert c.line() == "-ERR Line too long."
    assert c.cmd("CAPA", prefix=".")[0] == "+OK Capability list follows"
