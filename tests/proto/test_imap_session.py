"""petrel-imapd, not-authenticated state: greeting, capabilities, STARTTLS,
LOGIN, AUTHENTICATE, errors - with Python's imaplib and raw bytes."""

import imaplib
import socket
import subprocess
import time

import pytest

from conftest import PASSWORD, USER, LineClient, tls_context

PREAUTH_CAPS = ("IMAP4rev1 SASL-IR LITERAL+ IDLE UIDPLUS CHILDREN SPECIAL-USE STARTTLS LOGINDISABLED "
                "AUTH=SCRAM-SHA-256 AUTH=SCRAM-SHA-1 AUTH=CRAM-MD5")
TLS_CAPS = ("IMAP4rev1 SASL-IR LITERAL+ IDLE UIDPLUS CHILDREN SPECIAL-USE AUTH=PLAIN AUTH=LOGIN "
            "AUTH=SCRAM-SHA-256 AUTH=SCRAM-SHA-1 AUTH=CRAM-MD5")
POSTAUTH_CAPS = "IMAP4rev1 SASL-IR LITERAL+ IDLE UIDPLUS CHILDREN SPECIAL-USE"


@pytest.fixture
def imap(make_sandbox):
    return make_sandbox().start("imapd")


def test_greeting_and_capability_bytes(imap):
    c = LineClient(imap.ports["imap"])
    assert c.line() == "* OK [CAPABILITY %s] Petrel ready." % PREAUTH_CAPS
    assert c.cmd("a1 CAPABILITY") == ["* CAPABILITY " + PREAUTH_CAPS, "a1 OK Capability completed."]
    assert c.cmd("a2 NOOP") == ["a2 OK NOOP completed."]
    assert c.cmd("a3 LOGOUT") == ["* BYE Logging out.", "a3 OK Logout completed."]
    assert c.expect_closed() == ""


def test_implicit_tls_greeting_with_openssl_s_client(imap):
    out = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % imap.ports["imaps"],
                          "-quiet"], input=b"a LOGOUT\r\n", capture_output=True, timeout=30)
    text = out.stdout.decode()
    assert text.startswith("* OK [CAPABILITY %s] Petrel ready.\r\n" % TLS_CAPS), text
    assert "a OK Logout completed." in text


def test_login_refused_before_starttls_then_works(imap):
    m = imaplib.IMAP4("127.0.0.1", imap.ports["imap"])
    assert "LOGINDISABLED" in m.capabilities and "STARTTLS" in m.capabilities
    with pytest.raises(imaplib.IMAP4.error, match=r"PRIVACYREQUIRED"):
        m.login(USER, PASSWORD)
    m.starttls(ssl_context=tls_context())
    assert "STARTTLS" not in m.capabilities and "LOGINDISABLED" not in m.capabilities
    assert "AUTH=PLAIN" in m.capabilities
    typ, data = m.login(USER, PASSWORD)
    assert typ == "OK"
    assert data == [("[CAPABILITY %s] Logged in." % POSTAUTH_CAPS).encode()]
    assert m.noop()[0] == "OK"
    m.logout()
    assert "event=login" in imap.log("imapd") and "mech=LOGIN" in imap.log("imapd")


def test_imaps_login_and_case_insensitive_user(imap):
    m = imaplib.IMAP4_SSL("127.0.0.1", imap.ports["imaps"], ssl_context=tls_context())
    assert m.login("DEMO@Example.TEST", PASSWORD)[0] == "OK"
    m.logout()


def test_authenticate_plain_sasl_ir_and_continuation(imap):
    m = imaplib.IMAP4_SSL("127.0.0.1", imap.ports["imaps"], ssl_context=tls_context())
    # imaplib sends the mechanism, then answers the "+ " challenge.
    assert m.authenticate("PLAIN", lambda _: ("\0%s\0%s" % (USER, PASSWORD)).encode())[0] == "OK"
    m.logout()
    c = LineClient(imap.ports["imaps"], tls=True)
    c.line()
    # SASL-IR: the response on the command line (base64 of \0user\0pass).
    import base64
    ir = base64.b64encode(("\0%s\0%s" % (USER, PASSWORD)).encode()).decode()
    assert c.cmd("a AUTHENTICATE PLAIN " + ir)[-1].startswith("a OK [CAPABILITY")


def test_authenticate_cancel_bad_base64_and_unknown_mech(imap):
    c = LineClient(imap.ports["imaps"], tls=True)
    c.line()
    c.send("a AUTHENTICATE PLAIN\r\n")
    assert c.line() == "+ "
    assert c.cmd("*", prefix="a ") == ["a BAD Authentication cancelled."]
    c.send("b AUTHENTICATE PLAIN\r\n")
    assert c.line() == "+ "
    assert c.cmd("!!notbase64", prefix="b ") == ["b BAD Invalid base64 data."]
    assert c.cmd("c AUTHENTICATE X-NONE") == ["c NO Unsupported authentication mechanism."]
    assert c.cmd("d AUTHENTICATE PLAIN =!") == ["d BAD Invalid base64 data."]
    # Still a working session.
    assert c.cmd("e NOOP") == ["e OK NOOP completed."]


def test_plaintext_mechanism_refused_without_tls(imap):
    c = LineClient(imap.ports["imap"])
    c.line()
    assert c.cmd("a AUTHENTICATE PLAIN") == [
        "a NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure connections. "
        "Use STARTTLS or port 993."]


def test_starttls_discards_pipelined_plaintext(imap):
    """RFC 2595 3.1 / CVE-2011-0411 class: a command injected after STARTTLS
    in the same packet must never run."""
    c = LineClient(imap.ports["imap"])
    c.line()
    c.send("a STARTTLS\r\nb LOGIN %s %s\r\n" % (USER, PASSWORD))
    assert c.line() == "a OK Begin TLS negotiation now."
    c.starttls()
    assert c.cmd("c NOOP") == ["c OK NOOP completed."]
    assert c.cmd("d CAPABILITY")[0] == "* CAPABILITY " + TLS_CAPS
    assert "starttls_injection" in imap.log("imapd")
    assert c.cmd("e STARTTLS") == ["e BAD TLS is already active."]


def test_wrong_state_unknown_and_syntax_errors(imap):
    c = LineClient(imap.ports["imap"])
    c.line()
    assert c.cmd("a SELECT INBOX") == ["a BAD Log in first."]
    assert c.cmd("b FROBNICATE") == ["b BAD Unknown command."]
    assert c.cmd("c LOGIN (a b") == ["c BAD Missing ')'"]
    assert c.cmd("d LOGIN onlyone") == ["d BAD Expected: LOGIN user password."]
    assert c.cmd("e NOOP extra") == ["e BAD Unexpected arguments."]
    c.send("+bad NOOP\r\n")
    assert c.line() == "* BAD Invalid tag"
    c.send("\r\n")
    assert c.line() == "* BAD Invalid tag"
    assert c.cmd("f NOOP") == ["f OK NOOP completed."]


def test_after_login(imap):
    c = LineClient(imap.ports["imaps"], tls=True)
    c.line()
    assert c.cmd("a LOGIN %s %s" % (USER, PASSWORD))[-1].startswith("a OK")
    assert c.cmd("b LOGIN %s %s" % (USER, PASSWORD)) == ["b BAD Already logged in."]
    assert c.cmd("c FETCH 1 FLAGS") == ["c BAD No mailbox selected."]
    assert c.cmd("d CAPABILITY") == ["* CAPABILITY " + POSTAUTH_CAPS, "d OK Capability completed."]


def test_literals_sync_and_nonsync(imap):
    c = LineClient(imap.ports["imaps"], tls=True)
    c.line()
    c.send("a LOGIN {%d}\r\n" % len(USER))
    assert c.line() == "+ OK"
    c.send(USER + " {%d+}\r\n%s\r\n" % (len(PASSWORD), PASSWORD))
    assert c.line().startswith("a OK [CAPABILITY")


def test_literal_over_limit(imap):
    c = LineClient(imap.ports["imaps"], tls=True)
    c.line()
    # Synchronising: refused before the client sends it; the session goes on.
    assert c.cmd("a LOGIN {100000}", prefix="a ") == ["a BAD Literal too large."]
    assert c.cmd("b NOOP") == ["b OK NOOP completed."]
    # Non-synchronising: the bytes are coming anyway, so the session ends.
    c.send("c LOGIN {100000+}\r\n")
    assert c.expect_closed() == "c BAD Literal too large.\r\n* BYE Literal too large.\r\n"


def test_failed_logins_are_delayed_and_limited(make_sandbox):
    sb = make_sandbox({("auth", "failure_delay"): "300ms", ("auth", "failure_delay_max"): "2s",
                       ("auth", "max_failures"): "3"}).start("imapd")
    c = LineClient(sb.ports["imaps"], tls=True)
    c.line()
    delays = []
    for i in range(3):
        t = time.monotonic()
        resp = c.cmd("a%d LOGIN %s wrong" % (i, USER))
        delays.append(time.monotonic() - t)
        assert resp == ["a%d NO [AUTHENTICATIONFAILED] Authentication failed." % i]
    # 300ms, then doubled per failure from this address.
    assert 0.28 <= delays[0] < 1.0 and 0.58 <= delays[1] and 1.15 <= delays[2], delays
    assert c.expect_closed() == "* BYE Too many authentication failures.\r\n"
    # A new connection from the same address starts at the grown penalty...
    c = LineClient(sb.ports["imaps"], tls=True)
    c.line()
    t = time.monotonic()
    c.cmd("b LOGIN %s wrong" % USER)
    assert time.monotonic() - t >= 1.9
    # ...and a success clears it.
    assert c.cmd("c LOGIN %s %s" % (USER, PASSWORD))[-1].startswith("c OK")
    log = sb.log("imapd")
    assert "event=auth_failed" in log and "delay_ms=2000" in log


def test_per_user_connection_limit(make_sandbox):
    sb = make_sandbox({("limits", "max_connections_per_user"): "2"}).start("imapd")
    clients = []
    for i in range(2):
        c = LineClient(sb.ports["imaps"], tls=True)
        c.line()
        assert c.cmd("a LOGIN %s %s" % (USER, PASSWORD))[-1].startswith("a OK")
        clients.append(c)
    c = LineClient(sb.ports["imaps"], tls=True)
    c.line()
    assert c.cmd("b LOGIN %s %s" % (USER, PASSWORD)) == ["b NO [LIMIT] Too many connections for this user."]
    clients[0].cmd("z LOGOUT")
    clients[0].expect_closed()
    # The freed slot is available at once.
    deadline = time.monotonic() + 5
    while True:
        resp = c.cmd("c LOGIN %s %s" % (USER, PASSWORD))
        if resp[-1].startswith("c OK") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert resp[-1].startswith("c OK")


def test_http_request_gets_bye(imap):
    c = LineClient(imap.ports["imap"])
    c.line()
    c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert c.expect_closed() == "* BYE This is an IMAP server.\r\n"


def test_too_many_bad_commands(imap):
    c = LineClient(imap.ports["imap"])
    c.line()
    for i in range(9):
        assert c.cmd("a%d BOGUS" % i) == ["a%d BAD Unknown command." % i]
    c.send("a9 BOGUS\r\n")
    assert c.expect_closed() == "a9 BAD Unknown command.\r\n* BYE Too many invalid commands.\r\n"


def test_login_timeout(make_sandbox):
    sb = make_sandbox({("limits", "login_timeout"): "1s"}).start("imapd")
    c = LineClient(sb.ports["imap"])
    c.line()
    t = time.monotonic()
    c.cmd("a NOOP")  # activity does not extend the login timeout
    assert c.expect_closed(timeout=10) == "* BYE Autologout; idle for too long.\r\n"
    assert 0.8 <= time.monotonic() - t < 5


def test_commands_split_at_every_byte(imap):
    c = LineClient(imap.ports["imap"])
    c.line()
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    data = b"a NOOP\r\nb LOGIN {4}\r\n"
    for i in range(len(data)):
        c.send(data[i:i + 1])
        time.sleep(0.002)
    assert c.line() == "a OK NOOP completed."
    assert c.line() == "+ OK"
    for ch in b"user x\r\n":
        c.send(bytes([ch]))
        time.sleep(0.002)
    assert c.line() == ("b NO [PRIVACYREQUIRED] Plaintext authentication disallowed on "
                        "non-secure connections. Use STARTTLS or port 993.")


def test_pipelined_commands_in_one_packet(imap):
    c = LineClient(imap.ports["imap"])
    c.line()
    c.send("a NOOP\r\nb CAPABILITY\r\nc NOOP\r\n")
    assert c.line() == "a OK NOOP completed."
    assert c.line().startswith("* CAPABILITY ")
    assert c.line() == "b OK Capability completed."
    assert c.line() == "c OK NOOP completed."
