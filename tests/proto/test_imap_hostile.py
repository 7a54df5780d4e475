"""petrel-imapd in the selected state: hostile input, and RFC 3501 byte
exactness of the common responses.

Every hostile case must get a clear tagged BAD or NO (or BYE and a close
where nothing else keeps the protocol in step), and the session - or at
least the server and everyone else - keeps working afterwards. Responses
are compared as raw bytes where the RFC fixes the form. Every test runs
over implicit TLS (993) and over STARTTLS on the plain port.
"""

import glob
import os
import re
import shutil
import socket
import time

import pytest

from conftest import MEMORY_BOUNDS, PASSWORD, USER, LineClient, wait_for

TRANSPORTS = ("imaps", "starttls")
LITERAL_END = re.compile(rb"\{(\d+)\}\r\n\Z")
MAX_MESSAGE_SIZE = 50 * 1024 * 1024  # [lmtp] max_message_size default
MAX_LITERAL = 64 * 1024               # [limits] max_literal_size default


def message(i, body=b""):
    return (b"From: Sender %d <s%d@example.test>\r\n"
            b"To: demo@example.test\r\n"
            b"Subject: message %d\r\n"
            b"Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
            b"Message-ID: <m%d@example.test>\r\n"
            b"\r\n"
            b"Body of message %d.\r\n" % (i, i, i, i, i)) + body


@pytest.fixture(params=TRANSPORTS)
def transport(request):
    return request.param


@pytest.fixture
def imap(make_sandbox):
    return make_sandbox().start("imapd")


# ------------------------------------------------------------------ helpers

def connect(sb, transport, login=True, timeout=10.0):
    """A raw client on 993, or on 143 after STARTTLS; logged in."""
    if transport == "imaps":
        c = LineClient(sb.ports["imaps"], tls=True, timeout=timeout)
        assert c.line().startswith("* OK [CAPABILITY ")
    else:
        c = LineClient(sb.ports["imap"], timeout=timeout)
        assert c.line().startswith("* OK [CAPABILITY ")
        assert c.cmd("t STARTTLS") == ["t OK Begin TLS negotiation now."]
        c.starttls()
    if login:
        assert c.cmd("l LOGIN %s %s" % (USER, PASSWORD))[-1].startswith("l OK [CAPABILITY ")
    return c


def append(c, body, mailbox="INBOX", extra=b""):
    """APPEND with LITERAL+; returns the new UID."""
    c.send(b"ap APPEND %s %s{%d+}\r\n" % (mailbox.encode(), extra, len(body)) + body + b"\r\n")
    lines = c.lines_until("ap ")
    m = re.fullmatch(r"ap OK \[APPENDUID \d+ (\d+)\] Append completed\.", lines[-1])
    assert m, lines
    return int(m.group(1))


def selected(sb, transport, count=3, mailbox="INBOX"):
    """A session with `count` messages appended to `mailbox`, selected."""
    c = connect(sb, transport)
    for i in range(1, count + 1):
        append(c, message(i), mailbox)
    lines = c.cmd("s SELECT %s" % mailbox)
    assert lines[-1] == "s OK [READ-WRITE] Select completed.", lines
    return c


def recv_more(c):
    chunk = c.sock.recv(65536)
    if not chunk:
        raise EOFError("connection closed; buffered: %r" % c.buf[:300])
    c.buf += chunk


def raw_line(c):
    while b"\r\n" not in c.buf:
        recv_more(c)
    end = c.buf.index(b"\r\n") + 2
    line, c.buf = c.buf[:end], c.buf[end:]
    return line


def raw_exact(c, n):
    if len(c.buf) < n:
        data = bytearray(c.buf)  # a bytearray grows in amortised O(1)
        while len(data) < n:
            chunk = c.sock.recv(1 << 20)
            if not chunk:
                raise EOFError("connection closed inside a literal")
            data += chunk
        c.buf = bytes(data)
    data, c.buf = c.buf[:n], c.buf[n:]
    return data


def raw_response(c, tag):
    """The bytes up to and including the tagged line, literals included."""
    tag = tag.encode() if isinstance(tag, str) else tag
    out, at_start = b"", True
    while True:
        line = raw_line(c)
        out += line
        if at_start and line.startswith(tag + b" "):
            return out
        m = LITERAL_END.search(line)
        if m:
            out += raw_exact(c, int(m.group(1)))
        at_start = m is None


def raw_cmd(c, command):
    """Sends one command line (str or bytes, no CRLF); returns raw bytes."""
    if isinstance(command, str):
        command = command.encode()
    c.send(command + b"\r\n")
    return raw_response(c, command.split(b" ", 1)[0])


def noop(c, tag="n"):
    lines = c.cmd("%s NOOP" % tag)
    assert lines[-1] == "%s OK NOOP completed." % tag, lines
    return lines[:-1]


def assert_alive(sb, transport, c=None):
    """The session (if any) answers, and a fresh one logs in and selects."""
    if c is not None:
        noop(c, "za")
    f = connect(sb, transport)
    assert f.cmd("zb SELECT INBOX")[-1] == "zb OK [READ-WRITE] Select completed."
    noop(f, "zc")
    assert f.cmd("zd LOGOUT") == ["* BYE Logging out.", "zd OK Logout completed."]
    f.close()


def expect_replies(c, cases):
    """(command, reply) pairs: each command is answered by exactly that one
    tagged line. They are pipelined eight at a time, each group followed
    by a NOOP so that the bad-command limit never ends the session."""
    wrong = []
    for start in range(0, len(cases), 8):
        group = cases[start:start + 8]
        data = b""
        for i, (command, _) in enumerate(group):
            command = command.encode() if isinstance(command, str) else command
            data += b"h%d %s\r\n" % (start + i, command)
        c.send(data + b"n NOOP\r\n")
        for i, (command, reply) in enumerate(group):
            tag = "h%d" % (start + i)
            lines = c.lines_until(tag + " ")
            if lines != ["%s %s" % (tag, reply)]:
                wrong.append((command[:60], lines, reply))
        assert c.lines_until("n ") == ["n OK NOOP completed."]
    assert not wrong, "\n".join(repr(w) for w in wrong)


def maildir(sb, folder=""):
    base = os.path.join(sb.dir, "data", "users", USER, "Maildir")
    return os.path.join(base, "." + folder) if folder else base


def message_file(sb, uid, folder=""):
    files = glob.glob(os.path.join(maildir(sb, folder), "cur", "*,U=%d:2,*" % uid))
    assert len(files) == 1, files
    return files[0]


def status_messages(c, mailbox="INBOX"):
    lines = c.cmd("st STATUS %s (MESSAGES)" % mailbox)
    assert lines[-1] == "st OK Status completed.", lines
    line = [l for l in lines if l.startswith("* STATUS ")][0]
    return int(re.search(r"MESSAGES (\d+)", line).group(1))


# ================================================================ hostile

def test_unbalanced_parentheses(imap, transport):
    c = selected(imap, transport)
    expect_replies(c, [
        ("SEARCH (ALL", "BAD Missing ')'"),
        ("SEARCH ALL)", "BAD Unexpected ')'"),
        ("SEARCH (SEEN (ALL)", "BAD Missing ')'"),
        ("SEARCH )", "BAD Unexpected ')'"),
        ("SEARCH ()", "BAD Empty list in search"),
        ("SEARCH OR (SEEN) ) (ALL)", "BAD Unexpected ')'"),
        ("FETCH 1 (FLAGS", "BAD Missing ')'"),
        ("FETCH 1 FLAGS)", "BAD Unexpected ')'"),
        ("FETCH 1 (FLAGS UID))", "BAD Unexpected ')'"),
        ("FETCH 1 ((FLAGS)", "BAD Missing ')'"),
        ("FETCH 1 BODY[HEADER.FIELDS (Subject]", "BAD Invalid header field name in section"),
        ("FETCH 1 BODY[HEADER.FIELDS (Subject)", "BAD Missing ']'"),
        ("UID FETCH 1:* (UID", "BAD Missing ')'"),
        ("STORE 1 +FLAGS (\\Seen", "BAD Missing ')'"),
        ("STORE 1 +FLAGS \\Seen)", "BAD Unexpected ')'"),
        ("STATUS INBOX (MESSAGES", "BAD Missing ')'"),
    ])
    # Nothing was changed by any of them.
    assert c.cmd("f FETCH 1:* FLAGS") == ["* %d FETCH (FLAGS (\\Recent))" % i for i in (1, 2, 3)] + \
        ["f OK Fetch completed."]
    assert_alive(imap, transport, c)


def test_deep_nesting(imap, transport):
    c = selected(imap, transport)
    deep = 10000
    expect_replies(c, [
        ("SEARCH " + "(" * deep + "ALL" + ")" * deep, "BAD Lists nested too deeply"),
        ("FETCH 1 " + "(" * deep + "FLAGS" + ")" * deep, "BAD Lists nested too deeply"),
        ("UID SEARCH " + "(" * deep, "BAD Lists nested too deeply"),
        ("FETCH 1 " + "(" * deep, "BAD Lists nested too deeply"),
        ("SEARCH " + ")" * deep, "BAD Unexpected ')'"),
        ("FETCH 1 " + ")" * deep, "BAD Unexpected ')'"),
        ("STORE 1 FLAGS " + "(" * deep + ")" * deep, "BAD Lists nested too deeply"),
        # Items nested in FETCH are not FETCH syntax even when shallow.
        ("FETCH 1 ((FLAGS))", "BAD Invalid FETCH item"),
        ("SEARCH " + "NOT " * 5000 + "ALL", "BAD Search too complex"),
        ("SEARCH " + "OR ALL " * 3000 + "ALL", "BAD Search too complex"),
    ])
    # Within the limits nesting works: 100 levels of lists, 150 NOTs.
    assert c.cmd("a SEARCH " + "(" * 100 + "ALL" + ")" * 100) == ["* SEARCH 1 2 3", "a OK Search completed."]
    assert c.cmd("b SEARCH " + "NOT " * 150 + "SEEN") == ["* SEARCH", "b OK Search completed."]
    assert c.cmd("c SEARCH " + "NOT " * 151 + "SEEN") == ["* SEARCH 1 2 3", "c OK Search completed."]
    assert_alive(imap, transport, c)


def test_search_errors_name_the_culprit(imap, transport):
    """SEARCH errors quote the key or argument at fault (cut short, printable
    only). The text lives with the parsed criteria, which were freed before
    the answer was written: a use after free on every such error."""
    c = selected(imap, transport)
    expect_replies(c, [
        ("SEARCH BOGUS", "BAD Unknown search key: BOGUS"),
        ("SEARCH ALL BOGUS ALL", "BAD Unknown search key: BOGUS"),
        ("SEARCH " + "X" * 100, "BAD Unknown search key: " + "X" * 40 + "..."),
        ("SEARCH SUBJECT", "BAD Missing argument for SUBJECT"),
        ("SEARCH OR SEEN", "BAD Missing argument for OR"),
        ("SEARCH NOT", "BAD Missing argument for NOT"),
        ("SEARCH SUBJECT (x)", "BAD Expected a string after SUBJECT"),
        ("SEARCH FROM a%b", "BAD Invalid characters in atom after FROM"),
        ("SEARCH KEYWORD (x)", "BAD Expected a keyword atom after KEYWORD"),
        ("SEARCH KEYWORD a%b", "BAD Invalid keyword: a%b"),
        ("UID SEARCH CHARSET", "BAD Missing argument for CHARSET"),
        ("SEARCH CHARSET (UTF-8) ALL", "BAD Expected a string after CHARSET"),
        ('SEARCH "ALL"', "BAD Expected a search key, not a string"),
    ])
    assert_alive(imap, transport, c)


def test_huge_lines_at_the_default_limit(imap, transport):
    """100,000 NOTs or sequence numbers exceed max_line_length (64k): the
    line is dropped as it arrives and the session ends with BYE, since
    IMAP cannot find the next command safely."""
    for line in ("a SEARCH " + "NOT " * 100000 + "ALL",
                 "b FETCH " + ",".join(str(i) for i in range(1, 100001)) + " UID"):
        c = selected(imap, transport, count=1)
        c.send(line + "\r\nc NOOP\r\n")
        assert c.expect_closed() == "* BYE Line too long.\r\n"
        c.close()
        assert_alive(imap, transport)


def test_huge_inputs_with_raised_line_limit(make_sandbox, transport):
    """With max_line_length raised, the same inputs reach the tokenizer and
    the sequence-set code, and are answered quickly."""
    sb = make_sandbox({("limits", "max_line_length"): "2m"}).start("imapd")
    c = selected(sb, transport)
    numbers = [str(i) for i in range(1, 100001)]
    forward, backward = ",".join(numbers), ",".join(reversed(numbers))
    t0 = time.monotonic()
    expect_replies(c, [
        ("SEARCH " + "NOT " * 100000 + "ALL", "BAD Too many arguments"),
        ("SEARCH " + "(" * 100000 + "ALL" + ")" * 100000, "BAD Lists nested too deeply"),
        ("FETCH " + forward + " UID", "BAD Invalid message sequence number."),
        ("STORE " + backward + " +FLAGS (\\Seen)", "BAD Invalid message sequence number."),
        ("COPY " + forward + ",0 Trash", "BAD Invalid message set."),
        ("FETCH 1 (" + " ".join(["UID"] * 20000) + ")", "BAD Too many arguments"),
    ])
    # As UIDs they are fine: every message once, in order.
    for cmd in ("UID FETCH %s UID" % forward, "UID FETCH %s UID" % backward,
                "UID FETCH %s UID" % ",".join(["2:3,1"] * 50000)):
        assert c.cmd("u " + cmd) == ["* 1 FETCH (UID 1)", "* 2 FETCH (UID 2)", "* 3 FETCH (UID 3)",
                                     "u OK Fetch completed."]
    assert c.cmd("v SEARCH " + backward) == ["* SEARCH 1 2 3", "v OK Search completed."]
    assert c.cmd("w UID SEARCH UID " + forward) == ["* SEARCH 1 2 3", "w OK Search completed."]
    assert c.cmd("x UID STORE %s +FLAGS.SILENT (\\Flagged)" % backward) == ["x OK Store completed."]
    assert c.cmd("y SEARCH FLAGGED") == ["* SEARCH 1 2 3", "y OK Search completed."]
    assert time.monotonic() - t0 < 20
    assert_alive(sb, transport, c)


def test_command_with_thousands_of_literals(imap, transport):
    """Each literal of a command is a line of its own. They used to be
    parsed again from the start at every one (to see whether the command
    was an APPEND): quadratic, on the event loop - 9,000 literals held
    every client up for many seconds. Now the whole command is cheap."""
    c = selected(imap, transport)
    c.sock.settimeout(60)
    other = connect(imap, transport)
    assert other.cmd("o SELECT INBOX")[-1] == "o OK [READ-WRITE] Select completed."
    t0 = time.monotonic()
    c.send("a SEARCH " + "TEXT {1+}\r\nq " * 4500 + "ALL\r\n")
    assert c.lines_until("a ") == ["* SEARCH", "a OK Search completed."]
    # Near the command size limit (and past the argument limit).
    c.send("b SEARCH " + "TEXT {1+}\r\nq " * 9000 + "ALL\r\n")
    time.sleep(0.2)
    t1 = time.monotonic()
    noop(other)
    waited = time.monotonic() - t1
    assert c.lines_until("b ") == ["b BAD Too many arguments"]
    assert time.monotonic() - t0 < 5 and waited < 5, (waited, time.monotonic() - t0)
    # APPEND still streams, also with its mailbox name as a literal.
    c.send(b"c APPEND {5+}\r\nINBOX {%d+}\r\n" % len(message(4)) + message(4) + b"\r\n")
    assert c.lines_until("c ")[-1].endswith(" 4] Append completed.")
    assert_alive(imap, transport, c)


def test_sequence_set_extremes(imap, transport):
    c = selected(imap, transport)
    bad_set, bad_seq = "BAD Invalid message set.", "BAD Invalid message sequence number."
    expect_replies(c, [
        # RFC 3501 9: a sequence number beyond the mailbox is BAD.
        ("FETCH 1:4294967295 UID", bad_seq),
        ("FETCH 4 UID", bad_seq),
        ("FETCH 4294967296 UID", bad_set),
        ("FETCH 99999999999999999999999 UID", bad_set),
        ("FETCH 0 UID", bad_set),
        ("FETCH 0:2 UID", bad_set),
        ("FETCH 01 UID", bad_set),
        ("FETCH 1:2:3 UID", bad_set),
        ("FETCH 1,,2 UID", bad_set),
        ("FETCH 1, UID", bad_set),
        ("FETCH -1 UID", bad_set),
        ("FETCH ** UID", bad_set),
        ('FETCH "1" UID', bad_set),
        ("FETCH (1) UID", bad_set),
        ("STORE 0 +FLAGS (\\Seen)", bad_set),
        ("STORE 1:4294967295 +FLAGS (\\Seen)", bad_seq),
        ("COPY 4294967296 Trash", bad_set),
        ("COPY 1:4294967295 Trash", bad_seq),
        ("UID FETCH 4294967296 UID", bad_set),
        ("UID FETCH 0 UID", bad_set),
        ("UID STORE 0:* +FLAGS (\\Seen)", bad_set),
        ("UID EXPUNGE 4294967296", bad_set),
        ("SEARCH 4294967296", "BAD Invalid sequence set"),
        ("SEARCH 0", "BAD Invalid sequence set"),
        ("UID SEARCH UID 0", "BAD Invalid UID set"),
        ("UID SEARCH UID 4294967296", "BAD Invalid UID set"),
    ])
    last = ["* 3 FETCH (UID 3)", "f OK Fetch completed."]
    assert c.cmd("f FETCH *:* UID") == last
    assert c.cmd("f FETCH 3:* UID") == last
    assert c.cmd("f UID FETCH *:* UID") == last
    assert c.cmd("f UID FETCH 4294967295:* UID") == last
    assert c.cmd("f UID FETCH 4294967295 UID") == ["f OK Fetch completed."]
    assert len(c.cmd("f UID FETCH 1:4294967295 UID")) == 4
    assert c.cmd("g SEARCH 1:4294967295") == ["* SEARCH 1 2 3", "g OK Search completed."]
    assert c.cmd("g SEARCH *:*") == ["* SEARCH 3", "g OK Search completed."]
    assert c.cmd("g UID SEARCH UID 2:4294967295") == ["* SEARCH 2 3", "g OK Search completed."]
    assert c.cmd("g UID STORE 1:4294967295 +FLAGS.SILENT (\\Seen)") == ["g OK Store completed."]
    assert c.cmd("g SEARCH SEEN") == ["* SEARCH 1 2 3", "g OK Search completed."]
    assert_alive(imap, transport, c)


def test_literals_over_the_limit(imap, transport):
    c = selected(imap, transport)
    # Synchronising: refused before the client sends it; the session goes on.
    for announce in ("{%d}" % (MAX_LITERAL + 1), "{99999999999999999999999999}"):
        assert c.cmd("a SEARCH TEXT " + announce) == ["a BAD Literal too large."]
        noop(c)
    assert c.cmd("b APPEND INBOX {%d}" % (MAX_MESSAGE_SIZE + 1)) == [
        "b NO [TOOBIG] Message too large (limit %d bytes)." % MAX_MESSAGE_SIZE]
    assert c.cmd("b APPEND INBOX {99999999999999999999999999}") == [
        "b NO [TOOBIG] Message too large (limit %d bytes)." % MAX_MESSAGE_SIZE]
    noop(c)
    # At the limit it is taken.
    c.send("d SEARCH TEXT {%d}\r\n" % MAX_LITERAL)
    assert c.line() == "+ OK"
    c.send(b"x" * MAX_LITERAL + b"\r\n")
    assert c.lines_until("d ") == ["* SEARCH", "d OK Search completed."]
    assert status_messages(c) == 3
    # Non-synchronising: the bytes are coming anyway, so the session ends.
    c.send("e SEARCH TEXT {%d+}\r\n" % (MAX_LITERAL + 1))
    assert c.expect_closed() == "e BAD Literal too large.\r\n* BYE Literal too large.\r\n"
    c = connect(imap, transport)
    c.send("f APPEND INBOX {%d+}\r\n" % (MAX_MESSAGE_SIZE + 1))
    assert c.expect_closed() == ("f NO [TOOBIG] Message too large (limit %d bytes).\r\n"
                                 "* BYE Literal too large.\r\n" % MAX_MESSAGE_SIZE)
    assert_alive(imap, transport)


BAD_MUTF7 = [
    "&Jjo",          # unterminated
    "&ZeVnLIqe",     # unterminated, longer
    "&AGE-",         # encodes "a", which must be itself
    "&J*o-",         # not modified base64
    "&2D0-",         # a lone high surrogate
    "&Jjo-&Jjo-",    # two runs where one must be
    "&AAA-",         # NUL
    "a&b",           # "&" must be "&-"
    '"\xc3\xa9t\xc3\xa9"',  # raw UTF-8 in a quoted string
]


def test_invalid_modified_utf7(imap, transport):
    c = selected(imap, transport, count=1)
    mutf7 = "BAD Mailbox name is not valid modified UTF-7."
    for name in BAD_MUTF7:
        expect_replies(c, [
            ("CREATE " + name, mutf7),
            ("SELECT " + name, mutf7),
            ("EXAMINE " + name, mutf7),
            ("DELETE " + name, mutf7),
            ("RENAME INBOX " + name, mutf7),
            ("RENAME %s Other" % name, mutf7),
            ('LIST "" ' + name, mutf7),
            ('LIST %s "*"' % name, mutf7),
            ('LSUB "" ' + name, mutf7),
            ("SUBSCRIBE " + name, mutf7),
            ("UNSUBSCRIBE " + name, mutf7),
            ("COPY 1 " + name, mutf7),
            ("APPEND %s {1+}\r\nx" % name, mutf7),
            ("STATUS %s (MESSAGES)" % name, mutf7),
            ("STATUS INBOX MESSAGES", "BAD Expected: STATUS mailbox (items)."),
        ])
    # Still selected (a BAD SELECT is not a failed SELECT), nothing created.
    assert c.cmd("f FETCH 1 UID") == ["* 1 FETCH (UID 1)", "f OK Fetch completed."]
    boxes = [l for l in c.cmd('g LIST "" "*"') if l.startswith("* LIST")]
    assert sorted(l.rsplit(" ", 1)[1] for l in boxes) == [
        '"Archive"', '"Drafts"', '"INBOX"', '"Junk"', '"Sent"', '"Trash"']
    # Valid ones work, and come back in the same form.
    for name in ("&-", "&Jjo-", "&ZeVnLIqe-", "a&-b"):
        assert c.cmd("h CREATE " + name) == ["h OK Create completed."]
        assert c.cmd('i LIST "" ' + name) == ['* LIST (\\HasNoChildren) "/" "%s"' % name,
                                              "i OK List completed."]
    assert_alive(imap, transport, c)


def test_empty_mailbox_names(imap, transport):
    """"" is a valid astring: a clean NO everywhere, and LIST's special
    meaning (RFC 3501 6.3.8). It used to pass NULL to memchr, which the
    sanitizer build aborts on - with every client's first LIST."""
    c = selected(imap, transport, count=1)
    cannot = "NO [CANNOT] Invalid mailbox name."
    expect_replies(c, [
        ('CREATE ""', cannot),
        ("CREATE {0+}\r\n", cannot),
        ('DELETE ""', cannot),
        ('RENAME "" Other', cannot),
        ('RENAME INBOX ""', cannot),
        ('STATUS "" (MESSAGES)', cannot),
        ('SUBSCRIBE ""', cannot),
        ('UNSUBSCRIBE ""', cannot),
        ('APPEND "" {1+}\r\nx', cannot),
        ('COPY 1 ""', cannot),
    ])
    assert c.cmd('a LIST "" ""') == ['* LIST (\\Noselect) "/" ""', "a OK List completed."]
    assert len(c.cmd('b LIST "" "*"')) == 7
    assert c.cmd('c LIST "" "INBOX"') == ['* LIST (\\HasNoChildren) "/" "INBOX"', "c OK List completed."]
    # A failed SELECT leaves the selected state (RFC 3501 6.3.1).
    assert c.cmd('d SELECT ""') == ["d " + cannot]
    assert c.cmd("e FETCH 1 UID") == ["e BAD No mailbox selected."]
    assert c.cmd('f EXAMINE ""') == ["f " + cannot]
    assert_alive(imap, transport, c)


def test_eight_bit_bytes_in_atoms(imap, transport):
    c = selected(imap, transport, count=1)
    eight_bit = "BAD 8-bit characters are allowed only in strings"
    expect_replies(c, [
        (b"FETCH 1 FL\xc3\xa9GS", eight_bit),
        (b"FETCH 1 (FLAGS \xff)", eight_bit),
        (b"FETCH 1 FLAGS\xff", eight_bit),
        (b"SEARCH SUBJECT caf\xc3\xa9", eight_bit),
        (b"STORE 1 +FLAGS (caf\xc3\xa9)", eight_bit),
        (b"CREATE caf\xc3\xa9", eight_bit),
        (b"SELECT \x80", eight_bit),
        (b"NO\xffOP", "BAD Invalid character in command name"),
        (b"FETCH \xb9 UID", eight_bit),
        # In a quoted string 8-bit text is fine for SEARCH if it is UTF-8.
        (b'SEARCH SUBJECT "caf\xe9"', "BAD Invalid UTF-8 in search text"),
        (b'SEARCH CHARSET US-ASCII SUBJECT "caf\xc3\xa9"', "BAD 8-bit text with CHARSET US-ASCII"),
    ])
    # A tag with 8-bit bytes cannot be echoed: untagged BAD.
    c.send(b"\xfftag NOOP\r\n")
    assert c.line() == "* BAD Invalid tag"
    noop(c)
    assert c.cmd('s SEARCH SUBJECT "caf\u00e9"') == [
        "* SEARCH", "s OK Search completed."]
    assert_alive(imap, transport, c)


def test_nul_in_literals(imap, transport):
    c = selected(imap, transport, count=1)
    mutf7 = "BAD Mailbox name is not valid modified UTF-7."
    expect_replies(c, [
        (b"CREATE {3+}\r\na\x00b", mutf7),
        (b"SELECT {6+}\r\nIN\x00BOX", mutf7),
        (b"RENAME {5+}\r\nINBOX {3+}\r\na\x00b", mutf7),
        (b'LIST "" {2+}\r\n*\x00', mutf7),
        (b"SEARCH TEXT {3+}\r\na\x00b", "BAD NUL in search text"),
        (b"SEARCH HEADER {5+}\r\nX\x00Foo x", "BAD NUL in search text"),
        (b"STORE 1 +FLAGS ({3+}\r\na\x00b)", "BAD Flags must be atoms."),
        (b"FETCH 1 {5+}\r\nFLAGS", "BAD Invalid FETCH item"),
        (b'SEARCH SUBJECT "a\x00b"', "BAD NUL in quoted string"),
    ])
    # A message with NULs is taken (as Dovecot does), but IMAP literals
    # cannot carry NUL (RFC 3501 4.3, CHAR8): FETCH sends 0x80 instead,
    # which keeps every size and offset - streamed bodies and header
    # fields included.
    small = b"Subject: nul\x00here\r\nX-Nul: a\x00b\r\n\r\nbody \x00\x00 end\r\n"
    large = b"Subject: large\r\n\r\n" + b"0123456789\x00abcdefghijklmnopqrstuvwxyz\r\n" * 20000
    assert append(c, small) == 2
    assert append(c, large) == 3
    clean = small.replace(b"\x00", b"\x80")
    assert raw_cmd(c, "n FETCH 2 (RFC822.SIZE BODY.PEEK[] BODY.PEEK[TEXT]<5.2> "
                   "BODY.PEEK[HEADER.FIELDS (X-Nul)] BODY.PEEK[HEADER.FIELDS (Subject)])") == (
        b"* 2 FETCH (RFC822.SIZE %d BODY[] {%d}\r\n" % (len(small), len(small)) + clean +
        b" BODY[TEXT]<5> {2}\r\n\x80\x80 BODY[HEADER.FIELDS (X-NUL)] {14}\r\nX-Nul: a\x80b\r\n\r\n"
        b" BODY[HEADER.FIELDS (SUBJECT)] {21}\r\nSubject: nul\x80here\r\n\r\n"
        b")\r\nn OK Fetch completed.\r\n")
    assert raw_cmd(c, "o FETCH 3 BODY.PEEK[]") == (
        b"* 3 FETCH (BODY[] {%d}\r\n" % len(large) + large.replace(b"\x00", b"\x80") +
        b")\r\no OK Fetch completed.\r\n")
    assert c.cmd("p SEARCH BODY abcdefghij") == ["* SEARCH 3", "p OK Search completed."]
    assert_alive(imap, transport, c)


def pipeline():
    """Commands of every kind, literals of both kinds, a syntax error, and
    LOGOUT, so the whole response is everything up to the close."""
    new = message(9, b"Appended in the pipeline.\r\n")
    return (b"p0 LOGIN %s %s\r\n" % (USER.encode(), PASSWORD.encode()) +
            b"p1 SELECT INBOX\r\n"
            b"p2 FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE)\r\n"
            b"p3 STORE 2 +FLAGS (\\Flagged kw1)\r\n"
            b"p4 SEARCH CHARSET UTF-8 OR FLAGGED SUBJECT {9}\r\nmessage 1\r\n"
            b"p5 FETCH 1 (FLAGS\r\n"
            b'p6 APPEND INBOX (\\Seen) "01-Jan-2020 10:00:00 +0000" {%d+}\r\n' % len(new) + new + b"\r\n"
            b'p7 APPEND INBOX {%d}\r\n' % len(new) + new + b"\r\n"
            b"p8 FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (Subject)] BODY[TEXT]<0.10>)\r\n"
            b"p9 UID FETCH 3:* (BODY.PEEK[]<5.20> RFC822.SIZE)\r\n"
            b"pa STORE 1:2 -FLAGS.SILENT (\\Flagged)\r\n"
            b"pb UID SEARCH NOT SEEN\r\n"
            b"pc STORE 1 +FLAGS (\\Bogus)\r\n"
            b"pd NOOP\r\n"
            b"pe LOGOUT\r\n")


def run_pipeline(sb, transport, split):
    c = connect(sb, transport, login=False)
    out = c.send_pipeline(pipeline(), split, timeout=10)
    c.close()
    return out


def test_commands_split_at_every_byte(make_sandbox, transport):
    """The same pipeline, once a byte per packet (a TLS record each over
    TLS) and once in one packet, from the same mailbox state: the
    responses must be the same bytes."""
    sb = make_sandbox().start("imapd")
    c = connect(sb, transport)
    for i in range(1, 4):
        append(c, message(i), extra=b'"0%d-Feb-1994 12:00:00 +0100" ' % i)
    c.close()
    sb.stop("imapd")
    data = os.path.join(sb.dir, "data")
    shutil.copytree(data, data + ".orig")
    results = []
    for split in (True, False):
        shutil.rmtree(data)
        shutil.copytree(data + ".orig", data)
        sb.start("imapd")
        results.append(run_pipeline(sb, transport, split))
        sb.stop("imapd")
    sb.start("imapd")
    split_bytes, packet_bytes = results
    assert split_bytes == packet_bytes
    # And the response is the complete, sensible one.
    tags = re.findall(rb"^(p[0-9a-e]) (OK|NO|BAD)", packet_bytes, re.M)
    assert tags == [(b"p0", b"OK"), (b"p1", b"OK"), (b"p2", b"OK"), (b"p3", b"OK"), (b"p4", b"OK"),
                    (b"p5", b"BAD"), (b"p6", b"OK"), (b"p7", b"OK"), (b"p8", b"OK"), (b"p9", b"OK"),
                    (b"pa", b"OK"), (b"pb", b"OK"), (b"pc", b"BAD"), (b"pd", b"OK"), (b"pe", b"OK")]
    assert packet_bytes.count(b"+ OK\r\n") == 2
    assert b"* SEARCH 1 2\r\n" in packet_bytes
    assert packet_bytes.endswith(b"* BYE Logging out.\r\npe OK Logout completed.\r\n")


def test_many_pipelined_commands_in_one_packet(imap, transport):
    c = selected(imap, transport)
    kinds = ["FETCH %d (UID FLAGS)", "STORE %d +FLAGS.SILENT (k1)", "SEARCH %d", "NOOP",
             "UID FETCH %d BODY.PEEK[HEADER.FIELDS (Subject)]", "FETCH %d BOGUS",
             "STORE %d -FLAGS.SILENT (k1)"]
    commands = []
    for i in range(700):
        kind = kinds[i % len(kinds)]
        commands.append("q%d " % i + (kind % (i % 3 + 1) if "%d" in kind else kind))
    c.send("".join(x + "\r\n" for x in commands))
    tagged = []
    while len(tagged) < len(commands):
        line = c.line()
        if not line.startswith(("* ", "From", "Subject", ")")) and line:
            tagged.append(line)
    assert [l.split(" ")[0] for l in tagged] == [x.split(" ")[0] for x in commands]
    for line, command in zip(tagged, commands):
        expect = "BAD Unknown FETCH item" if "BOGUS" in command else "OK"
        assert line.split(" ", 1)[1].startswith(expect), (command, line)
    assert_alive(imap, transport, c)


def maildir_files(sb, sub):
    return sorted(glob.glob(os.path.join(maildir(sb), sub, "*")))


def test_append_interrupted(imap, transport):
    """The client goes away inside APPEND: nothing is stored, the draft is
    removed, the server and the next session are fine."""
    c = selected(imap, transport)
    before = maildir_files(imap, "cur")
    msg = message(7, b"x" * 1000000)  # more than one write step of the draft
    for how in ("sync", "nonsync-large", "literal-complete"):
        a = connect(imap, transport)
        if how == "sync":
            a.send(b"ap APPEND INBOX {%d}\r\n" % len(msg))
            assert a.line() == "+ OK"
            a.send(msg[:5000])
        elif how == "nonsync-large":
            a.send(b"ap APPEND INBOX {%d+}\r\n" % len(msg) + msg[:700000])
        else:
            a.send(b"ap APPEND INBOX {%d+}\r\n" % len(msg) + msg)  # no final CRLF
        time.sleep(0.1)
        a.close()
        assert wait_for(lambda: maildir_files(imap, "tmp") == []), (how, maildir_files(imap, "tmp"))
        assert maildir_files(imap, "cur") == before, how
        assert status_messages(c) == 3, how
        assert noop(c) == [], how
    n = connect(imap, transport)
    assert append(n, message(4)) == 4
    assert noop(c) == ["* 4 EXISTS", "* 4 RECENT"]  # 1-3 are still \\Recent here
    assert_alive(imap, transport, c)


def test_append_with_wrong_literal_length(imap, transport):
    c = selected(imap, transport)
    msg = message(8)
    # Longer than announced: the rest of the command line is garbage.
    c.send(b"a APPEND INBOX {%d}\r\n" % (len(msg) - 10))
    assert c.line() == "+ OK"
    c.send(msg)
    assert c.lines_until("a ") == ["a BAD Unexpected arguments after the message."]
    assert noop(c) == []
    # Shorter than announced: the following commands are taken as the
    # message until the count is reached; what follows it is garbage too.
    c.send(b"b APPEND INBOX {%d+}\r\n" % (len(msg) + 20) + msg + b"\r\nx NOOP\r\ngarbage garbage garbage\r\n")
    assert c.lines_until("b ") == ["b BAD Unexpected arguments after the message."]
    assert noop(c) == []
    # Far too long, with LITERAL+: the rest of the message comes as
    # commands, each refused, and the session is in step at the next one.
    c.send(b"c APPEND INBOX {5+}\r\n" + msg + b"\r\nd NOOP\r\n")
    lines = c.lines_until("d ")
    assert lines[0] == "c BAD Unexpected arguments after the message."
    assert lines[-1] == "d OK NOOP completed."
    assert all(re.match(r"\S+ BAD ", l) for l in lines[1:-1]), lines
    assert len(lines) == msg.count(b"\r\n") + 2  # one BAD per line
    expect_replies(c, [
        ("APPEND INBOX {-5}", "BAD Invalid literal size"),
        ("APPEND INBOX {5x}", "BAD Literal must end the line"),
        ("APPEND INBOX {}", "BAD Invalid literal size"),
        ("APPEND INBOX {5} x", "BAD Literal must end the line"),
    ])
    assert status_messages(c) == 3
    assert maildir_files(imap, "tmp") == []
    assert_alive(imap, transport, c)


def test_store_with_invalid_flags(imap, transport):
    c = selected(imap, transport)
    assert c.cmd("a STORE 1 FLAGS (\\Answered k0)")[-1] == "a OK Store completed."
    expect_replies(c, [
        ("STORE 1 +FLAGS (\\Recent)", "BAD \\Recent cannot be set."),
        ("STORE 1 +FLAGS (\\Seen \\Bogus)", "BAD Unknown system flag."),
        ("STORE 1 FLAGS (\\)", "BAD Unknown system flag."),
        ("STORE 1 +FLAGS (\\Seen a]b)", "BAD Invalid keyword."),
        ("STORE 1 +FLAGS (a%b)", "BAD Invalid keyword."),
        ("STORE 1 +FLAGS (a*)", "BAD Invalid keyword."),
        ("STORE 1 +FLAGS (" + "k" * 201 + ")", "BAD Invalid keyword."),
        ("STORE 1 +FLAGS (\\Seen \"quoted\")", "BAD Flags must be atoms."),
        ("STORE 1 +FLAGS ((nested))", "BAD Flags must be atoms."),
        ("STORE 1 +FLAGS {4+}\r\nlit1", "BAD Flags must be atoms."),
        ("STORE 1 FLAGS (\\Seen \x7f)", "BAD Invalid character"),
        ("STORE 1 +FLAGS (" + " ".join("kw%d" % k for k in range(70)) + ")", "BAD Too many keywords."),
        ("STORE 1 +FLAGS", "BAD Expected: STORE set FLAGS|+FLAGS|-FLAGS[.SILENT] (flags)."),
        ("STORE 1 FLAGX (\\Seen)", "BAD Unknown STORE item; expected FLAGS, +FLAGS or -FLAGS."),
        ("STORE 1 +FLAGS.SILENTX (\\Seen)", "BAD Unknown STORE item; expected FLAGS, +FLAGS or -FLAGS."),
        ("STORE 1 ++FLAGS (\\Seen)", "BAD Unknown STORE item; expected FLAGS, +FLAGS or -FLAGS."),
        ("STORE 1 (FLAGS) (\\Seen)", "BAD Expected: STORE set FLAGS|+FLAGS|-FLAGS[.SILENT] (flags)."),
    ])
    # All or nothing: no flag of a refused STORE was set, on any message.
    assert c.cmd("f FETCH 1:* FLAGS") == ["* 1 FETCH (FLAGS (\\Answered k0 \\Recent))",
                                          "* 2 FETCH (FLAGS (\\Recent))",
                                          "* 3 FETCH (FLAGS (\\Recent))", "f OK Fetch completed."]
    assert_alive(imap, transport, c)


def test_fetch_message_file_removed_behind_the_server(imap, transport):
    c = selected(imap, transport)
    other = connect(imap, transport)
    assert other.cmd("o SELECT INBOX")[-1] == "o OK [READ-WRITE] Select completed."
    os.unlink(message_file(imap, 2))
    issued = "NO [EXPUNGEISSUED] Some of the requested messages no longer exist."
    assert raw_cmd(c, "a FETCH 2 BODY.PEEK[]") == b"a " + issued.encode() + b"\r\n"
    assert raw_cmd(c, "b UID FETCH 2 (BODY.PEEK[TEXT] FLAGS)") == b"b " + issued.encode() + b"\r\n"
    # The others are answered; the index still answers for the message.
    assert raw_cmd(c, "c FETCH 1:3 (UID BODY.PEEK[TEXT])") == (
        b"* 1 FETCH (UID 1 BODY[TEXT] {20}\r\nBody of message 1.\r\n)\r\n"
        b"* 3 FETCH (UID 3 BODY[TEXT] {20}\r\nBody of message 3.\r\n)\r\n"
        b"c " + issued.encode() + b"\r\n")
    assert c.cmd("c FETCH 2 BODY.PEEK[HEADER.FIELDS (Subject)]") == [
        "* 2 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {22}", "Subject: message 2", "", ")",
        "c OK Fetch completed."]
    assert c.cmd("d FETCH 2 (UID RFC822.SIZE)") == [
        "* 2 FETCH (UID 2 RFC822.SIZE %d)" % len(message(2)), "d OK Fetch completed."]
    assert other.cmd("e FETCH 2 RFC822")[-1] == "e " + issued
    assert_alive(imap, transport, c)
    assert noop(other) == []
    # Nobody read it, so it did not become \Seen; the others did.
    assert other.cmd("f FETCH 1:3 BODY[TEXT]")[-1] == "f " + issued
    assert other.cmd("g FETCH 1:3 FLAGS") == [
        "* 1 FETCH (FLAGS (\\Seen))", "* 2 FETCH (FLAGS ())",
        "* 3 FETCH (FLAGS (\\Seen))", "g OK Fetch completed."]
    # (2 changed and changed back: the session hears of it, harmlessly.)
    assert noop(c) == ["* 1 FETCH (FLAGS (\\Seen \\Recent) UID 1)",
                       "* 2 FETCH (FLAGS (\\Recent) UID 2)",
                       "* 3 FETCH (FLAGS (\\Seen \\Recent) UID 3)"]


def parse_fetches(raw):
    """{seq: [(item name, literal bytes or None)]} from raw FETCH responses
    whose items are all literals (UID aside)."""
    out = {}
    while raw.startswith(b"* "):
        m = re.match(rb"\* (\d+) FETCH \(UID \d+", raw)
        assert m, raw[:200]
        seq, raw, items = int(m.group(1)), raw[m.end():], []
        while not raw.startswith(b")\r\n"):
            m = re.match(rb" ([^ {]+(?: \([^)]*\))?[^ {]*) \{(\d+)\}\r\n", raw)
            assert m, raw[:200]
            n = int(m.group(2))
            items.append((m.group(1), raw[m.end():m.end() + n]))
            raw = raw[m.end() + n:]
        out[seq], raw = items, raw[3:]
    return out, raw


def test_fetch_many_messages_read_ahead(imap, transport):
    """A FETCH of many messages reads their sections ahead, together, on
    several threads, and filters the header fields the index keeps there
    too; every answer must be what the files hold, byte for
    byte, and the odd ones out - a file gone, a file shorter than the
    index says, a message too large to read ahead, NUL bytes, keyword
    letters in the file name, a multipart - are answered as one by one."""
    c = connect(imap, transport)
    msgs = {}
    for i in range(1, 41):
        body = b"".join(b"line %d of message %d\r\n" % (k, i) for k in range(i * 3))
        if i == 5:
            body += b"with a \x00 NUL\r\n"
        if i == 9:
            body = b"x" * 80 + b"\r\n"
            body *= 1000  # 82 KB: beyond what is read ahead
        if i == 20:
            msgs[i] = (b"Subject: parts\r\nMIME-Version: 1.0\r\n"
                       b"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
                       b"--b\r\nContent-Type: text/plain\r\n\r\nfirst part %d\r\n"
                       b"--b\r\nContent-Type: text/plain\r\n\r\nsecond\r\n--b--\r\n" % i)
        else:
            msgs[i] = message(i, body)
        assert append(c, msgs[i]) == i
    assert c.cmd("s SELECT INBOX")[-1] == "s OK [READ-WRITE] Select completed."
    assert c.cmd("k STORE 3,30 +FLAGS.SILENT ($Work)") == ["k OK Store completed."]
    os.unlink(message_file(imap, 7))
    os.truncate(message_file(imap, 12), 10)

    raw = raw_cmd(c, "f FETCH 1:40 (UID BODY.PEEK[]<0.1024> BODY.PEEK[TEXT]<3.50> "
                     "BODY.PEEK[HEADER.FIELDS.NOT (Subject)] BODY.PEEK[1] "
                     "BODY.PEEK[HEADER.FIELDS (Subject From)])")
    got, tail = parse_fetches(raw)
    assert tail == b"f NO [EXPUNGEISSUED] Some of the requested messages no longer exist.\r\n"
    assert sorted(got) == [i for i in range(1, 41) if i not in (7, 12)]
    for i, items in got.items():
        msg = msgs[i].replace(b"\x00", b"\x80")
        header, text = msg.split(b"\r\n\r\n", 1)
        not_subject = b"".join(line + b"\r\n" for line in header.split(b"\r\n")
                               if not line.lower().startswith(b"subject:")) + b"\r\n"
        from_subject = b"".join(line + b"\r\n" for line in header.split(b"\r\n")
                                if line.lower().startswith((b"subject:", b"from:"))) + b"\r\n"
        part1 = b"first part 20" if i == 20 else text
        assert items == [(b"BODY[]<0>", msg[:1024]),
                         (b"BODY[TEXT]<3>", text[3:53]),
                         (b"BODY[HEADER.FIELDS.NOT (SUBJECT)]", not_subject),
                         (b"BODY[1]", part1),
                         (b"BODY[HEADER.FIELDS (SUBJECT FROM)]", from_subject)], i

    # Answers larger than one step of output (256 KB): each step reads
    # ahead only what it sends, and the next picks up where it stopped.
    for i in range(41, 49):
        msgs[i] = message(i, b"".join(b"%05d long line of message %d\r\n" % (k, i)
                                      for k in range(2000)))
        append(c, msgs[i])
    assert c.cmd("s NOOP")[-1] == "s OK NOOP completed."
    raw = raw_cmd(c, "t UID FETCH 1:* (BODY.PEEK[TEXT])")
    got, tail = parse_fetches(raw)
    # (7 and 12 still have records, and sequence numbers, but no file.)
    assert tail == b"t NO [EXPUNGEISSUED] Some of the requested messages no longer exist.\r\n"
    assert sorted(got) == [i for i in range(1, 49) if i not in (7, 12)]
    for i, items in got.items():
        text = msgs[i].replace(b"\x00", b"\x80").split(b"\r\n\r\n", 1)[1]
        assert items == [(b"BODY[TEXT]", text)], i
    assert_alive(imap, transport, c)


def big_message(mb):
    return b"Subject: big\r\n\r\n" + b"".join(b"%07d %s\r\n" % (i, b"x" * 90)
                                             for i in range(mb * 1024 * 1024 // 100))


def test_fetch_message_file_truncated(imap, transport):
    """A file shorter than the index says: before the FETCH, the message is
    left out like a removed one; while its literal is being sent, the
    literal is completed with spaces (its length is promised) and the
    session ends - with BYE, never silently and never with OK."""
    c = selected(imap, transport, count=1)
    # Larger than what the server can have read ahead of a stalled client:
    # its socket's send buffer, the output queue and a step.
    try:
        with open("/proc/sys/net/ipv4/tcp_wmem") as f:
            wmem_mb = int(f.read().split()[2]) // (1024 * 1024)
    except (OSError, ValueError, IndexError):
        wmem_mb = 4
    big = big_message(max(12, wmem_mb + 8))
    append(c, big)  # its answer brings "* 2 EXISTS"
    path = message_file(imap, 2)
    os.truncate(path, 1000)
    assert raw_cmd(c, "a FETCH 1:2 (UID BODY.PEEK[])") == (
        b"* 1 FETCH (UID 1 BODY[] {%d}\r\n" % len(message(1)) + message(1) + b")\r\n"
        b"a NO [EXPUNGEISSUED] Some of the requested messages no longer exist.\r\n")
    assert c.cmd("b FETCH 2 (UID RFC822.SIZE)") == ["* 2 FETCH (UID 2 RFC822.SIZE %d)" % len(big),
                                                    "b OK Fetch completed."]
    with open(path, "wb") as f:
        f.write(big)
    # Shrinks while the client is slow to read.
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    c.send("c FETCH 2 BODY.PEEK[]\r\n")
    time.sleep(0.5)
    os.truncate(path, 0)
    c.sock.settimeout(30)
    head = raw_line(c)
    assert head == b"* 2 FETCH (BODY[] {%d}\r\n" % len(big)
    literal = raw_exact(c, len(big))
    sent = len(literal.rstrip(b" "))
    assert 0 < sent < len(big) and literal[:sent] == big[:sent]
    assert c.expect_closed() == ")\r\n* BYE Message file changed while it was being sent.\r\n"
    assert_alive(imap, transport)


def test_idle_followed_by_garbage(imap, transport):
    c = selected(imap, transport)
    for garbage in (b"x NOOP", b"DONE extra", b"DONEDONE", b"\xff\xfe\x00garbage", b"",
                    b"x {5}", b"x {5+}\r\nhello"):
        c.send(b"i IDLE\r\n")
        assert c.line() == "+ idling"
        c.send(garbage + b"\r\n")
        # The garbage ends IDLE and is not run as a command.
        assert c.lines_until("i ") == ["i BAD Expected DONE."], garbage
        assert noop(c) == []
    # A change arriving meanwhile is reported, then the garbage refused.
    c.send(b"j IDLE\r\n")
    assert c.line() == "+ idling"
    other = connect(imap, transport)
    append(other, message(4))
    assert c.line() == "* 4 EXISTS"
    assert c.line() == "* 4 RECENT"
    c.send(b"k SELECT INBOX\r\n")
    assert c.lines_until("j ") == ["j BAD Expected DONE."]
    assert noop(c) == []
    # Lower case DONE is fine (RFC 3501 commands are case-insensitive).
    c.send(b"l IDLE\r\n")
    assert c.line() == "+ idling"
    c.send(b"done\r\n")
    assert c.lines_until("l ") == ["l OK Idle completed."]
    assert_alive(imap, transport, c)


def test_next_command_after_a_streamed_fetch(imap, transport):
    """A body larger than one output step (256 KB) is streamed in steps.
    When the last step filled the output queue, the session stopped
    reading for good once the queue drained at once (a fast reader): the
    next command was never answered."""
    c = connect(imap, transport)
    exact = b"Subject: exact\r\n\r\n"
    exact += b"y" * (4 * 262144 - len(exact))  # the last step is a full one
    append(c, exact)
    append(c, big_message(3))
    assert c.cmd("s SELECT INBOX")[-1] == "s OK [READ-WRITE] Select completed."
    for fetch in ("FETCH 1 BODY.PEEK[]", "UID FETCH 1 BODY.PEEK[]", "FETCH 1:2 BODY.PEEK[]",
                  "FETCH 2 BODY.PEEK[TEXT]", "FETCH 1:2 (FLAGS RFC822)"):
        out = raw_cmd(c, "f " + fetch)
        assert out.endswith(b"f OK Fetch completed.\r\n"), fetch
        assert noop(c) == [], fetch
    assert_alive(imap, transport, c)


def test_client_that_never_reads_a_20mb_fetch(imap, transport):
    """One client asks for a 20 MB body and reads nothing: the server
    streams it as the socket drains, so its memory stays bounded, and
    everyone else (fetching the same message) is served meanwhile."""
    big = big_message(20)
    c = connect(imap, transport)
    append(c, big)
    stalled = connect(imap, transport)
    # Small, so the server's side fills up early (smaller still would make
    # the final read crawl: Linux never widens the window again).
    stalled.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    assert stalled.cmd("s SELECT INBOX")[-1] == "s OK [READ-WRITE] Select completed."
    rss_before = imap.rss_kb("imapd")
    stalled.send("f FETCH 1 BODY.PEEK[]\r\n")
    time.sleep(1.0)
    t0 = time.monotonic()
    other = connect(imap, transport, timeout=30)
    assert other.cmd("o SELECT INBOX")[-1] == "o OK [READ-WRITE] Select completed."
    other.send("p FETCH 1 (BODY.PEEK[] RFC822.SIZE)\r\n")
    assert raw_response(other, "p") == (b"* 1 FETCH (RFC822.SIZE %d BODY[] {%d}\r\n" % (len(big), len(big)) +
                                        big + b")\r\np OK Fetch completed.\r\n")
    assert other.cmd("q FETCH 1 BODY.PEEK[]<0.12>") == ["* 1 FETCH (BODY[]<0> {12}", "Subject: big)",
                                                         "q OK Fetch completed."]
    other.close()
    assert time.monotonic() - t0 < 20
    growth = imap.rss_kb("imapd") - rss_before
    if MEMORY_BOUNDS:
        assert growth < 8 * 1024, growth
    # The stalled client's response is intact when it finally reads.
    stalled.sock.settimeout(30)
    assert raw_response(stalled, "f") == (b"* 1 FETCH (BODY[] {%d}\r\n" % len(big) + big +
                                          b")\r\nf OK Fetch completed.\r\n")
    assert_alive(imap, transport, stalled)


# ====================================================== RFC 3501 exactness

def uidvalidity(c, mailbox="INBOX"):
    lines = c.cmd("uv STATUS %s (UIDVALIDITY)" % mailbox)
    return int(re.search(r"UIDVALIDITY (\d+)", lines[-2]).group(1))


def test_select_response_bytes(imap, transport):
    c = connect(imap, transport)
    append(c, message(1), extra=b"(\\Seen $Forwarded) ")
    append(c, message(2))
    append(c, message(3), extra=b"(\\Seen) ")
    uv = uidvalidity(c)
    # RFC 3501 6.3.1 / 7.1 / 7.2.6 / 7.3.1-2.
    assert raw_cmd(c, "s SELECT INBOX") == (
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded)\r\n"
        b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded \\*)] "
        b"Flags permitted.\r\n"
        b"* 3 EXISTS\r\n"
        b"* 3 RECENT\r\n"
        b"* OK [UNSEEN 2] First unseen.\r\n"
        b"* OK [UIDVALIDITY %d] UIDs valid\r\n"
        b"* OK [UIDNEXT 4] Predicted next UID\r\n"
        b"s OK [READ-WRITE] Select completed.\r\n" % uv)
    # Another session: \Recent went to the first; read-only has no
    # permanent flags; with everything seen there is no UNSEEN.
    o = connect(imap, transport)
    assert o.cmd("a STORE 2 +FLAGS (\\Seen)") == ["a BAD No mailbox selected."]
    assert raw_cmd(o, "e EXAMINE INBOX") == (
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded)\r\n"
        b"* OK [PERMANENTFLAGS ()] Read-only mailbox.\r\n"
        b"* 3 EXISTS\r\n"
        b"* 0 RECENT\r\n"
        b"* OK [UNSEEN 2] First unseen.\r\n"
        b"* OK [UIDVALIDITY %d] UIDs valid\r\n"
        b"* OK [UIDNEXT 4] Predicted next UID\r\n"
        b"e OK [READ-ONLY] Examine completed.\r\n" % uv)
    assert c.cmd("f STORE 2 +FLAGS.SILENT (\\Seen)") == ["f OK Store completed."]
    lines = o.cmd("g SELECT INBOX")
    assert "* 0 RECENT" in lines and not any("UNSEEN" in l for l in lines)
    assert lines[-1] == "g OK [READ-WRITE] Select completed."
    # An empty mailbox.
    assert c.cmd("h CREATE Empty") == ["h OK Create completed."]
    assert raw_cmd(c, "i SELECT Empty") == (
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded)\r\n"
        b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded \\*)] "
        b"Flags permitted.\r\n"
        b"* 0 EXISTS\r\n"
        b"* 0 RECENT\r\n"
        b"* OK [UIDVALIDITY %d] UIDs valid\r\n"
        b"* OK [UIDNEXT 1] Predicted next UID\r\n"
        b"i OK [READ-WRITE] Select completed.\r\n" % uidvalidity(c, "Empty"))
    # "*" in an empty mailbox is no message (RFC 3501 9, seq-number).
    assert c.cmd("j FETCH 1:* UID") == ["j BAD Invalid message sequence number."]
    assert c.cmd("k UID FETCH 1:* UID") == ["k OK Fetch completed."]
    assert c.cmd("l SEARCH 1:*") == ["* SEARCH", "l OK Search completed."]


DATE_TIME = re.compile(rb'"(?: \d|\d\d)-(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)-\d{4} '
                       rb'\d\d:\d\d:\d\d [+-]\d{4}"')


def test_fetch_response_forms(imap, transport):
    c = connect(imap, transport)
    m1, m2 = message(1), message(2, b"More text.\r\n")
    append(c, m1, extra=b'(\\Seen kw) " 7-Feb-1994 21:52:25 -0800" ')
    append(c, m2, extra=b'"01-Jan-2000 00:00:00 +0000" ')
    c.cmd("s SELECT INBOX")
    # FLAGS list, INTERNALDATE quoted (date-time), RFC822.SIZE a number.
    out = raw_cmd(c, "a FETCH 1:2 (FLAGS INTERNALDATE RFC822.SIZE)")
    assert out == (b'* 1 FETCH (FLAGS (\\Seen kw \\Recent) INTERNALDATE "08-Feb-1994 05:52:25 +0000" '
                   b'RFC822.SIZE %d)\r\n'
                   b'* 2 FETCH (FLAGS (\\Recent) INTERNALDATE "01-Jan-2000 00:00:00 +0000" '
                   b'RFC822.SIZE %d)\r\n'
                   b'a OK Fetch completed.\r\n' % (len(m1), len(m2)))
    assert len(DATE_TIME.findall(out)) == 2
    # BODY[] is a literal; .PEEK is answered as BODY[...].
    assert raw_cmd(c, "b FETCH 1 BODY.PEEK[]") == (
        b"* 1 FETCH (BODY[] {%d}\r\n" % len(m1) + m1 + b")\r\nb OK Fetch completed.\r\n")
    # A partial is named by its origin only (RFC 3501 7.4.2).
    assert raw_cmd(c, "c FETCH 1 (BODY.PEEK[]<0.10> BODY.PEEK[]<5.10> BODY.PEEK[]<%d.10>)"
                   % (len(m1) - 3)) == (
        b"* 1 FETCH (BODY[]<0> {10}\r\n" + m1[:10] +
        b" BODY[]<5> {10}\r\n" + m1[5:15] +
        b" BODY[]<%d> {3}\r\n" % (len(m1) - 3) + m1[-3:] + b")\r\nc OK Fetch completed.\r\n")
    # Also when the origin lies beyond the end of the section (the text is
    # then empty), or the section does not exist at all.
    assert raw_cmd(c, "c2 FETCH 1 (BODY.PEEK[]<1000.10> BODY.PEEK[HEADER.FIELDS (Subject)]<500.5> "
                   "BODY.PEEK[TEXT]<20.1> BODY.PEEK[3]<5.10>)") == (
        b'* 1 FETCH (BODY[]<1000> {0}\r\n BODY[HEADER.FIELDS (SUBJECT)]<500> {0}\r\n'
        b' BODY[TEXT]<20> {0}\r\n BODY[3]<5> "")\r\nc2 OK Fetch completed.\r\n')
    header, text = m2.split(b"\r\n\r\n", 1)
    assert raw_cmd(c, "d FETCH 2 (BODY.PEEK[HEADER] BODY.PEEK[TEXT]<4.6> BODY.PEEK[HEADER.FIELDS (subject to)])") == (
        b"* 2 FETCH (BODY[HEADER] {%d}\r\n" % (len(header) + 4) + header + b"\r\n\r\n" +
        b" BODY[TEXT]<4> {6}\r\n" + text[4:10] +
        b" BODY[HEADER.FIELDS (SUBJECT TO)] {45}\r\nTo: demo@example.test\r\nSubject: message 2\r\n\r\n"
        b")\r\nd OK Fetch completed.\r\n")
    # Without PEEK \Seen is set and the new FLAGS come with the message.
    assert raw_cmd(c, "e FETCH 2 RFC822.TEXT") == (
        b"* 2 FETCH (FLAGS (\\Seen \\Recent) RFC822.TEXT {%d}\r\n" % len(text) + text +
        b")\r\ne OK Fetch completed.\r\n")
    assert raw_cmd(c, "f FETCH 2 (RFC822.HEADER RFC822)") == (
        b"* 2 FETCH (RFC822.HEADER {%d}\r\n" % (len(header) + 4) + header + b"\r\n\r\n" +
        b" RFC822 {%d}\r\n" % len(m2) + m2 + b")\r\nf OK Fetch completed.\r\n")
    # UID FETCH always includes UID (RFC 3501 6.4.8).
    assert raw_cmd(c, "g UID FETCH 2 FLAGS") == (
        b"* 2 FETCH (UID 2 FLAGS (\\Seen \\Recent))\r\ng OK Fetch completed.\r\n")


def test_store_untagged_fetch_bytes(imap, transport):
    c = selected(imap, transport)
    o = connect(imap, transport)
    assert o.cmd("o SELECT INBOX")[-1] == "o OK [READ-WRITE] Select completed."
    # RFC 3501 6.4.6: the flags as they are now, one FETCH per message.
    assert raw_cmd(c, "a STORE 1 +FLAGS (\\Flagged kw1)") == (
        b"* 1 FETCH (FLAGS (\\Flagged kw1 \\Recent))\r\na OK Store completed.\r\n")
    assert raw_cmd(c, "b STORE 1:2 FLAGS (\\Seen)") == (
        b"* 1 FETCH (FLAGS (\\Seen \\Recent))\r\n* 2 FETCH (FLAGS (\\Seen \\Recent))\r\n"
        b"b OK Store completed.\r\n")
    assert raw_cmd(c, "c STORE 2 -FLAGS (\\Seen)") == (
        b"* 2 FETCH (FLAGS (\\Recent))\r\nc OK Store completed.\r\n")
    # Unchanged flags are still reported.
    assert raw_cmd(c, "d STORE 1 +FLAGS (\\Seen)") == (
        b"* 1 FETCH (FLAGS (\\Seen \\Recent))\r\nd OK Store completed.\r\n")
    assert raw_cmd(c, "e UID STORE 3 +FLAGS (\\Deleted \\Draft \\Answered)") == (
        b"* 3 FETCH (FLAGS (\\Answered \\Deleted \\Draft \\Recent) UID 3)\r\ne OK Store completed.\r\n")
    assert raw_cmd(c, "f STORE 1:3 +FLAGS.SILENT (\\Answered)") == b"f OK Store completed.\r\n"
    assert raw_cmd(c, "g UID STORE 1:3 -FLAGS.SILENT (\\Answered)") == b"g OK Store completed.\r\n"
    # The other session: the current flags of each changed message at its
    # next command, with UIDs, without \Recent (it holds none).
    assert raw_cmd(o, "h NOOP") == (
        b"* 1 FETCH (FLAGS (\\Seen) UID 1)\r\n"
        b"* 2 FETCH (FLAGS () UID 2)\r\n"
        b"* 3 FETCH (FLAGS (\\Deleted \\Draft) UID 3)\r\n"
        b"h OK NOOP completed.\r\n")
    assert raw_cmd(o, "i NOOP") == b"i OK NOOP completed.\r\n"
    # .SILENT silences our own changes only (RFC 3501 6.4.6).
    assert raw_cmd(o, "j STORE 1 +FLAGS.SILENT (\\Flagged)") == b"j OK Store completed.\r\n"
    assert raw_cmd(c, "k STORE 2 +FLAGS.SILENT (\\Flagged)") == (
        b"* 1 FETCH (FLAGS (\\Seen \\Flagged \\Recent) UID 1)\r\nk OK Store completed.\r\n")


def fetch_uids(c, tag="u"):
    lines = c.cmd("%s FETCH 1:* UID" % tag)
    assert lines[-1] == "%s OK Fetch completed." % tag, lines
    return [(int(m.group(1)), int(m.group(2)))
            for m in (re.fullmatch(r"\* (\d+) FETCH \(UID (\d+)\)", l) for l in lines[:-1])]


def test_expunge_renumbering(imap, transport):
    """RFC 3501 7.4.1: expunging messages 3, 4, 7 and 11 is reported as
    3, 3, 5, 8 - each number as it is after the previous EXPUNGE."""
    c = selected(imap, transport, count=12)
    o = connect(imap, transport)
    assert o.cmd("o SELECT INBOX")[-1] == "o OK [READ-WRITE] Select completed."
    assert c.cmd("a STORE 3,4,7,11 +FLAGS.SILENT (\\Deleted)") == ["a OK Store completed."]
    assert raw_cmd(c, "b EXPUNGE") == (b"* 3 EXPUNGE\r\n* 3 EXPUNGE\r\n* 5 EXPUNGE\r\n* 8 EXPUNGE\r\n"
                                       b"b OK Expunge completed.\r\n")
    left = [1, 2, 5, 6, 8, 9, 10, 12]
    assert fetch_uids(c) == list(enumerate(left, 1))
    # The other session learns the same at its next NOOP (the flag
    # changes of messages about to go need not be reported first).
    out = raw_cmd(o, "c NOOP")
    assert re.sub(rb"\* \d+ FETCH \(FLAGS \(\\Deleted\) UID \d+\)\r\n", b"", out) == (
        b"* 3 EXPUNGE\r\n* 3 EXPUNGE\r\n* 5 EXPUNGE\r\n* 8 EXPUNGE\r\nc OK NOOP completed.\r\n")
    assert fetch_uids(o) == list(enumerate(left, 1))
    # UID EXPUNGE (RFC 4315): only the \Deleted messages of the set.
    assert c.cmd("d STORE 1,3,8 +FLAGS.SILENT (\\Deleted)") == ["d OK Store completed."]
    assert raw_cmd(c, "e UID EXPUNGE 5:12") == (b"* 3 EXPUNGE\r\n* 7 EXPUNGE\r\n"
                                               b"e OK Expunge completed.\r\n")
    assert fetch_uids(c) == list(enumerate([1, 2, 6, 8, 9, 10], 1))


def test_no_expunge_during_fetch_store_search(imap, transport):
    """RFC 3501 7.4.1: no EXPUNGE while answering FETCH, STORE or SEARCH
    (the client's sequence numbers would shift under it); they come at
    the next command that may carry them."""
    c = selected(imap, transport, count=5)
    o = connect(imap, transport)
    assert o.cmd("o SELECT INBOX")[-1] == "o OK [READ-WRITE] Select completed."
    assert o.cmd("a STORE 2,4 +FLAGS.SILENT (\\Deleted)") == ["a OK Store completed."]
    assert o.cmd("b EXPUNGE") == ["* 2 EXPUNGE", "* 3 EXPUNGE", "b OK Expunge completed."]
    append(o, message(6))
    for command in ("FETCH 1:5 (UID)", "FETCH 5 (UID FLAGS)", "STORE 1:5 +FLAGS (\\Seen)",
                    "STORE 3 -FLAGS.SILENT (\\Seen)", "SEARCH ALL", "SEARCH 5", "FETCH 1:* UID",
                    "UID FETCH 1:* BODY.PEEK[HEADER.FIELDS (Subject)]", "COPY 1:5 Trash"):
        lines = c.cmd("x " + command)
        assert not any(l.endswith(" EXPUNGE") for l in lines), (command, lines)
        assert lines[-1].startswith(("x OK", "x NO [EXPUNGEISSUED]")), (command, lines)
        # What the server says about surviving messages uses the old numbers.
        for m in (re.match(r"\* (\d+) FETCH \(.*UID (\d+)", l) for l in lines):
            if m:
                assert {"1": "1", "3": "3", "5": "5", "6": "6"}[m.group(1)] == m.group(2), lines
    # The EXISTS for the new message may come at once; the EXPUNGEs wait.
    out = raw_cmd(c, "y NOOP")
    assert re.sub(rb"\* \d+ FETCH \(FLAGS \([^)]*\) UID \d+\)\r\n|\* 6 EXISTS\r\n\* \d RECENT\r\n",
                  b"", out) == b"* 2 EXPUNGE\r\n* 3 EXPUNGE\r\ny OK NOOP completed.\r\n", out
    assert fetch_uids(c) == [(1, 1), (2, 3), (3, 5), (4, 6)]
    assert raw_cmd(c, "z NOOP") == b"z OK NOOP completed.\r\n"


def test_several_sessions_stay_consistent(imap, transport):
    a = selected(imap, transport, count=4)
    b = connect(imap, transport)
    idle = connect(imap, transport)
    for s in (b, idle):
        assert s.cmd("s SELECT INBOX")[-1] == "s OK [READ-WRITE] Select completed."
    idle.send("i IDLE\r\n")
    assert idle.line() == "+ idling"
    # Flags set by one session reach the other at its next command, even
    # one that is about something else; IDLE gets them at once.
    assert a.cmd("a STORE 1 +FLAGS.SILENT (\\Flagged)") == ["a OK Store completed."]
    assert b.cmd("b FETCH 4 UID") == ["* 4 FETCH (UID 4)", "* 1 FETCH (FLAGS (\\Flagged) UID 1)",
                                      "b OK Fetch completed."]
    assert idle.line() == "* 1 FETCH (FLAGS (\\Flagged) UID 1)"
    assert b.cmd("c STORE 2 +FLAGS.SILENT (\\Seen \\Deleted)") == ["c OK Store completed."]
    assert b.cmd("d STORE 1 -FLAGS.SILENT (\\Flagged)") == ["d OK Store completed."]
    assert a.cmd("e SEARCH FLAGGED") == ["* SEARCH", "* 1 FETCH (FLAGS (\\Recent) UID 1)",
                                         "* 2 FETCH (FLAGS (\\Seen \\Deleted \\Recent) UID 2)",
                                         "e OK Search completed."]
    assert sorted([idle.line(), idle.line()]) == ["* 1 FETCH (FLAGS () UID 1)",
                                                  "* 2 FETCH (FLAGS (\\Seen \\Deleted) UID 2)"]
    # An expunge by one: the IDLE session hears it at once, the others at
    # their next NOOP, all with the same numbers.
    assert a.cmd("f EXPUNGE") == ["* 2 EXPUNGE", "f OK Expunge completed."]
    assert idle.line() == "* 2 EXPUNGE"
    assert b.cmd("g NOOP") == ["* 2 EXPUNGE", "g OK NOOP completed."]
    idle.send("DONE\r\n")
    assert idle.line() == "i OK Idle completed."
    views = []
    for s in (a, b, idle):
        lines = s.cmd("h FETCH 1:* (UID FLAGS)")
        views.append([l.replace(" \\Recent", "").replace("(\\Recent)", "()") for l in lines])
    assert views[0] == views[1] == views[2] == [
        "* 1 FETCH (UID 1 FLAGS ())", "* 2 FETCH (UID 3 FLAGS ())", "* 3 FETCH (UID 4 FLAGS ())",
        "h OK Fetch completed."]


def test_status_on_the_selected_mailbox(imap, transport):
    """RFC 3501 6.3.10 advises against it, but clients do it: STATUS of the
    selected mailbox must agree with what the session was told - its
    EXISTS first, and \\Recent as this session sees it (it holds them)."""
    c = selected(imap, transport)
    uv = uidvalidity(c)
    assert c.cmd("a STORE 1 +FLAGS.SILENT (\\Seen)") == ["a OK Store completed."]
    assert raw_cmd(c, "b STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)") == (
        b'* STATUS "INBOX" (MESSAGES 3 RECENT 3 UIDNEXT 4 UIDVALIDITY %d UNSEEN 2)\r\n'
        b"b OK Status completed.\r\n" % uv)
    o = connect(imap, transport)
    assert raw_cmd(o, "c STATUS INBOX (MESSAGES RECENT)") == (
        b'* STATUS "INBOX" (MESSAGES 3 RECENT 0)\r\nc OK Status completed.\r\n')
    append(o, message(4))
    assert raw_cmd(c, "d STATUS inbox (MESSAGES RECENT UIDNEXT)") == (
        b'* 4 EXISTS\r\n* 4 RECENT\r\n* STATUS "INBOX" (MESSAGES 4 RECENT 4 UIDNEXT 5)\r\n'
        b"d OK Status completed.\r\n")
    assert o.cmd("e SELECT INBOX")[-1] == "e OK [READ-WRITE] Select completed."
    assert o.cmd("f STORE 2 +FLAGS.SILENT (\\Deleted)") == ["f OK Store completed."]
    assert o.cmd("g EXPUNGE") == ["* 2 EXPUNGE", "g OK Expunge completed."]
    assert raw_cmd(c, "h STATUS INBOX (MESSAGES RECENT UNSEEN)") == (
        b'* 2 EXPUNGE\r\n* STATUS "INBOX" (MESSAGES 3 RECENT 3 UNSEEN 2)\r\n'
        b"h OK Status completed.\r\n")
    # Read-only: nothing is \\Recent for this session, as EXAMINE said.
    lines = o.cmd("i EXAMINE INBOX")
    assert "* 0 RECENT" in lines
    assert o.cmd("j STATUS INBOX (MESSAGES RECENT)") == ['* STATUS "INBOX" (MESSAGES 3 RECENT 0)',
                                                          "j OK Status completed."]
    # Another mailbox is unaffected by the selection.
    assert c.cmd("k STATUS Trash (MESSAGES RECENT)") == ['* STATUS "Trash" (MESSAGES 0 RECENT 0)',
                                                         "k OK Status completed."]


def test_uid_fetch_beyond_the_last_uid(imap, transport):
    """RFC 3501 6.4.8: "n:*" always includes the last message, even when n
    is higher than any UID."""
    c = selected(imap, transport)
    assert c.cmd("a UID FETCH 100:* UID") == ["* 3 FETCH (UID 3)", "a OK Fetch completed."]
    assert c.cmd("b UID FETCH *:100 UID") == ["* 3 FETCH (UID 3)", "b OK Fetch completed."]
    assert c.cmd("c UID FETCH 4:* (UID FLAGS)") == ["* 3 FETCH (UID 3 FLAGS (\\Recent))",
                                                    "c OK Fetch completed."]
    assert c.cmd("d UID FETCH 100:200 UID") == ["d OK Fetch completed."]
    assert c.cmd("e UID SEARCH UID 100:*") == ["* SEARCH 3", "e OK Search completed."]
    assert c.cmd("f UID STORE 100:* +FLAGS (\\Answered)") == [
        "* 3 FETCH (FLAGS (\\Answered \\Recent) UID 3)", "f OK Store completed."]
    assert re.fullmatch(r"g OK \[COPYUID \d+ 3 1\] Copy completed\.", c.cmd("g UID COPY 100:* Trash")[-1])
    # After the last message is expunged, "*" is the new last one.
    assert c.cmd("h UID STORE 3 +FLAGS.SILENT (\\Deleted)") == ["h OK Store completed."]
    assert c.cmd("i EXPUNGE") == ["* 3 EXPUNGE", "i OK Expunge completed."]
    assert c.cmd("j UID FETCH 100:* UID") == ["* 2 FETCH (UID 2)", "j OK Fetch completed."]
