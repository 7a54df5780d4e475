"""petrel-pop3d against hostile input, before and after login: overlong
lines, bad numbers, commands in the wrong state, garbage, floods of bad
commands and pipelines split at every byte. Every case gets a clear -ERR
(or the documented close), the session or at least everyone else keeps
working, and the exact bytes are checked. Each test runs over 110 with
STLS and over 995 (the plain transport is covered by test_pop3_mail)."""

import os
import shutil
import time

import pytest

from conftest import PASSWORD, USER
from pop3_helpers import deliver, message, pop, raw, raw_line, raw_multiline, sandbox, stored

TRANSPORTS = ("stls", "pop3s")


@pytest.fixture(params=TRANSPORTS)
def transport(request):
    return request.param


@pytest.fixture
def sb(make_sandbox):
    s = sandbox(make_sandbox, daemons=("pop3d", "lmtpd"))
    deliver(s, [message(1), message(2), message(3)])
    return s


NOOP = (b"NOOP", b"+OK NOOP")
# Before login: a good command that changes nothing that matters here.
USER_AGAIN = (b"USER nobody@example.test", b"+OK Send PASS now.")


def expect(c, cases, reset=NOOP):
    """(command bytes, reply line) pairs, pipelined in groups of five, each
    group followed by a good command so the bad-command limit (10 in a row)
    never ends the session."""
    wrong = []
    for start in range(0, len(cases), 5):
        group = cases[start:start + 5]
        c.send(b"".join(cmd + b"\r\n" for cmd, _ in group) + reset[0] + b"\r\n")
        for cmd, reply in group:
            got = raw_line(c)
            if got != reply + b"\r\n":
                wrong.append((cmd[:60], got, reply))
        assert raw_line(c) == reset[1] + b"\r\n"
    assert not wrong, "\n".join(repr(w) for w in wrong)


def assert_alive(sb, transport, c=None):
    if c is not None:
        c.send("NOOP\r\n")
        assert raw_line(c) == b"+OK NOOP\r\n"
        c.send("QUIT\r\n")
        assert raw_line(c).startswith(b"+OK Logging out")
        c.close()
    p = pop(sb, transport)
    assert p.stat()[0] == 3
    p.quit()


BAD_NUMBERS = [
    (b"RETR 0", b"-ERR There is no message 0."),
    (b"RETR 4", b"-ERR There is no message 4."),
    (b"RETR 000004", b"-ERR There is no message 4."),
    (b"RETR 4294967295", b"-ERR There is no message 4294967295."),
    (b"RETR 4294967296", b"-ERR No such message."),
    (b"RETR 18446744073709551616", b"-ERR No such message."),
    (b"RETR 99999999999999999999999999999999999999", b"-ERR No such message."),
    (b"RETR -1", b"-ERR Invalid message number."),
    (b"RETR +1", b"-ERR Invalid message number."),
    (b"RETR 1x", b"-ERR Invalid message number."),
    (b"RETR x", b"-ERR Invalid message number."),
    (b"RETR 0x1", b"-ERR Invalid message number."),
    (b"RETR 1.0", b"-ERR Invalid message number."),
    (b"RETR \xff", b"-ERR Invalid message number."),
    (b"RETR 1\x00", b"-ERR Invalid message number."),
    (b"RETR 1\t", b"-ERR Invalid message number."),
    (b"RETR", b"-ERR Expected: RETR msg."),
    (b"RETR ", b"-ERR Expected: RETR msg."),
    (b"RETR    ", b"-ERR Expected: RETR msg."),
    (b"RETR 1 2", b"-ERR Too many arguments; expected: RETR msg."),
    (b"DELE 0", b"-ERR There is no message 0."),
    (b"DELE -1", b"-ERR Invalid message number."),
    (b"DELE", b"-ERR Expected: DELE msg."),
    (b"DELE 1 1", b"-ERR Too many arguments; expected: DELE msg."),
    (b"LIST 0", b"-ERR There is no message 0."),
    (b"LIST 18446744073709551616", b"-ERR No such message."),
    (b"LIST 1x", b"-ERR Invalid message number."),
    (b"LIST 1 2", b"-ERR Too many arguments; expected: LIST msg."),
    (b"UIDL 0", b"-ERR There is no message 0."),
    (b"UIDL -1", b"-ERR Invalid message number."),
    (b"UIDL 1 2", b"-ERR Too many arguments; expected: UIDL msg."),
    (b"TOP", b"-ERR Expected: TOP msg n."),
    (b"TOP 1", b"-ERR Expected: TOP msg n."),
    (b"TOP 1 -1", b"-ERR Invalid number of lines."),
    (b"TOP 1 1x", b"-ERR Invalid number of lines."),
    (b"TOP 1 18446744073709551616", b"-ERR Invalid number of lines."),
    (b"TOP 0 1", b"-ERR There is no message 0."),
    (b"TOP x 1", b"-ERR Invalid message number."),
    (b"TOP 1 1 1", b"-ERR Too many arguments; expected: TOP msg n."),
    (b"STAT 1", b"-ERR STAT takes no arguments."),
    (b"RSET now", b"-ERR RSET takes no arguments."),
    (b"NOOP x", b"-ERR NOOP takes no arguments."),
]


def test_bad_numbers_and_arguments(sb, transport):
    c = raw(sb, transport)
    expect(c, BAD_NUMBERS)
    # Lower case and surplus spaces are fine; the largest sane counts too.
    expect(c, [(b"list 2", b"+OK 2 %d" % len(stored(sb)[1])),
               (b"uidl   3  ", b"+OK 3 " + pop_uidl(sb, c, 3)),
               (b"dele 3", b"+OK Marked to be deleted."),
               (b"DELE 3", b"-ERR Message 3 is deleted."),
               (b"rset", b"+OK Maildrop has 3 messages (%d octets)." % sum(map(len, stored(sb))))])
    c.send("TOP 1 18446744073709551615\r\n")
    assert raw_line(c) == b"+OK Top of message 1 follows.\r\n"
    assert raw_multiline(c).endswith(b"Body of message 1.\r\n.\r\n")
    assert_alive(sb, transport, c)


def pop_uidl(sb, c, n):
    c.send("UIDL %d\r\n" % n)
    return raw_line(c).split(b" ")[2].rstrip(b"\r\n")


def test_commands_in_the_wrong_state(sb, transport):
    c = raw(sb, transport, login=False)
    expect(c, [(b"PASS x", b"-ERR Send USER first.")], reset=USER_AGAIN)
    expect(c, [(cmd, b"-ERR Log in first.") for cmd in
               (b"STAT", b"LIST", b"LIST 1", b"RETR 1", b"DELE 1", b"RSET", b"TOP 1 1", b"UIDL",
                b"NOOP")], reset=USER_AGAIN)
    c.send("USER %s\r\nPASS %s\r\n" % (USER, PASSWORD))
    assert raw_line(c) == b"+OK Send PASS now.\r\n"
    assert raw_line(c) == b"+OK Logged in.\r\n"
    expect(c, [(cmd, b"-ERR Already logged in.") for cmd in
               (b"USER %s" % USER.encode(), b"PASS " + PASSWORD.encode(), b"STLS", b"AUTH PLAIN",
                b"AUTH")])
    assert_alive(sb, transport, c)


def test_garbage_lines(sb, transport):
    c = raw(sb, transport)
    expect(c, [(b"", b"-ERR Unknown command."),
               (b" ", b"-ERR Unknown command."),
               (b"\x00\x01\x02", b"-ERR Unknown command."),
               (b"\xff\xfe RETR 1", b"-ERR Unknown command."),
               (b"RETRX 1", b"-ERR Unknown command."),
               (b"RET", b"-ERR Unknown command."),
               (b"GET / HTTP/1.1", b"-ERR Unknown command."),
               (b"\x16\x03\x01\x02\x00", b"-ERR Unknown command.")])
    # A bare LF ends a line as well as CRLF does.
    c.send("NOOP\nSTAT\n")
    assert raw_line(c) == b"+OK NOOP\r\n"
    assert raw_line(c).startswith(b"+OK 3 ")
    assert_alive(sb, transport, c)


def test_http_before_login_is_closed(sb, transport):
    c = raw(sb, transport, login=False)
    c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert c.expect_closed() == "-ERR This is a POP3 server.\r\n"
    assert_alive(sb, transport)


def test_overlong_lines(sb, transport):
    """Over [limits] max_preauth_line_length (8k; POP3 keeps it after
    login): "-ERR Line too long.", the line is dropped as it arrives, the
    session goes on."""
    c = raw(sb, transport, login=False)
    c.send(b"USER " + b"a" * 9000 + b"\r\n")
    assert raw_line(c) == b"-ERR Line too long.\r\n"
    c.send("USER %s\r\nPASS %s\r\n" % (USER, PASSWORD))
    assert raw_line(c) == b"+OK Send PASS now.\r\n"
    assert raw_line(c) == b"+OK Logged in.\r\n"
    for junk in (b"RETR " + b"1" * 9000, b"X" * (2 << 20), b"LIST " + b" " * 20000 + b"1"):
        c.send(junk + b"\r\nNOOP\r\n")
        assert raw_line(c) == b"-ERR Line too long.\r\n"
        assert raw_line(c) == b"+OK NOOP\r\n"
    # Just under the limit is a command, answered.
    c.send(b"RETR " + b"0" * 8000 + b"1\r\n")
    assert raw_line(c).startswith(b"+OK ")
    raw_multiline(c)
    assert_alive(sb, transport, c)


def test_bad_command_flood_closes_only_that_session(sb, transport):
    holder = raw(sb, transport)  # logged in: holds the maildrop
    c = raw(sb, transport, login=False)
    c.send(b"BOGUS\r\n" * 50)
    assert c.expect_closed() == "-ERR Unknown command.\r\n" * 10 + "-ERR Too many invalid commands.\r\n"
    # After login, syntax errors count as well; a good command resets the
    # count, ten in a row end the session - without UPDATE.
    holder.send(b"DELE 1\r\n" + b"RETR x\r\n" * 9 + b"NOOP\r\n" + b"RETR x\r\n" * 12)
    assert raw_line(holder) == b"+OK Marked to be deleted.\r\n"
    for _ in range(9):
        assert raw_line(holder) == b"-ERR Invalid message number.\r\n"
    assert raw_line(holder) == b"+OK NOOP\r\n"
    assert holder.expect_closed() == ("-ERR Invalid message number.\r\n" * 10 +
                                      "-ERR Too many invalid commands.\r\n")
    deadline = time.monotonic() + 10
    while True:
        p = pop(sb, transport, login=False)
        p.user(USER)
        try:
            p.pass_(PASSWORD)
            break
        except Exception:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert p.stat()[0] == 3
    p.quit()


def test_sasl_garbage(sb, transport):
    c = raw(sb, transport, login=False)
    c.send("AUTH PLAIN\r\n")
    assert raw_line(c) == b"+ \r\n"
    c.send("!!!not base64!!!\r\n")
    assert raw_line(c) == b"-ERR Invalid base64 data.\r\n"
    c.send("AUTH PLAIN " + "A" * 9000 + "\r\n")
    assert raw_line(c) == b"-ERR Line too long.\r\n"
    c.send("AUTH X-UNKNOWN =\r\n")
    assert raw_line(c) == b"-ERR Unsupported authentication mechanism.\r\n"
    c.send("AUTH PLAIN a b\r\n")
    assert raw_line(c) == b"-ERR Expected: AUTH mechanism [initial-response].\r\n"
    c.send("USER %s\r\nPASS %s\r\n" % (USER, PASSWORD))
    assert raw_line(c) == b"+OK Send PASS now.\r\n"
    assert raw_line(c) == b"+OK Logged in.\r\n"
    assert_alive(sb, transport, c)


def pipeline():
    return (b"CAPA\r\nUSER %s\r\nPASS %s\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 2\r\nTOP 1 1\r\n"
            b"RETR 9\r\nDELE 1\r\nLIST 1\r\nRETR x\r\nBOGUS\r\nLIST\r\nRSET\r\nDELE 3\r\n"
            b"NOOP\r\nQUIT\r\n" % (USER.encode(), PASSWORD.encode()))


def run_pipeline(sb, transport, split):
    c = raw(sb, transport, login=False)
    out = c.send_pipeline(pipeline(), split, timeout=20)
    c.close()
    return out


def test_pipeline_split_at_every_byte(make_sandbox, transport):
    """The same pipeline, a byte per packet (a TLS record each over TLS)
    and in one packet, from the same maildrop: the same response bytes."""
    sb = sandbox(make_sandbox, daemons=("pop3d", "lmtpd"))
    deliver(sb, [message(1), message(2, b".dot\r\n"), message(3)])
    sb.stop("pop3d")
    sb.stop("lmtpd")
    data = os.path.join(sb.dir, "data")
    shutil.copytree(data, data + ".orig")
    results = []
    for split in (True, False):
        shutil.rmtree(data)
        shutil.copytree(data + ".orig", data)
        sb.start("pop3d")
        results.append(run_pipeline(sb, transport, split))
        sb.stop("pop3d")
    sb.start("pop3d")
    split_bytes, packet_bytes = results
    assert split_bytes == packet_bytes
    lines = packet_bytes.split(b"\r\n")
    status = [l for l in lines if l.startswith((b"+OK", b"-ERR"))]
    assert [s.split(b" ")[0] for s in status] == [
        b"+OK", b"+OK", b"+OK", b"+OK", b"+OK", b"+OK", b"+OK", b"+OK", b"-ERR", b"+OK", b"-ERR",
        b"-ERR", b"-ERR", b"+OK", b"+OK", b"+OK", b"+OK", b"+OK"]
    assert b"\r\n..dot\r\n" in packet_bytes
    assert packet_bytes.endswith(b"+OK NOOP\r\n+OK Logging out, messages deleted.\r\n")
    p = pop(sb, transport)
    assert p.stat()[0] == 2
    p.quit()


def test_disconnect_in_the_middle_of_a_retr(sb, transport):
    """A client that vanishes mid-RETR of a large message: nothing leaks
    (the sanitizer build checks), nothing is deleted, the lock goes."""
    deliver(sb, [message(4), message(5, (b"y" * 998 + b"\r\n") * 20000)])
    for _ in range(3):
        c = raw(sb, transport)
        c.send("DELE 1\r\nRETR 5\r\n")
        assert raw_line(c) == b"+OK Marked to be deleted.\r\n"
        assert raw_line(c).startswith(b"+OK ")
        c.sock.recv(1000)
        c.close()
    deadline = time.monotonic() + 10
    while True:
        p = pop(sb, transport, login=False)
        p.user(USER)
        try:
            p.pass_(PASSWORD)
            break
        except Exception:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert p.stat()[0] == 5
    p.quit()
