"""Shared helpers for the POP3 maildrop tests: sandboxes with pop3d (and
lmtpd for delivery, imapd to look at the result), clients over the three
transports, and raw multi-line reads."""

import glob
import imaplib
import os
import poplib
import re
import smtplib

from conftest import PASSWORD, USER, LineClient, tls_context, wait_for  # noqa: F401 (re-exported)

# "plain": port 110 without TLS (plaintext logins allowed for the test);
# "stls": port 110 after STLS; "pop3s": port 995.
TRANSPORTS = ("plain", "stls", "pop3s")

# Quick deliveries: no SPF/DKIM/DMARC lookups, and logins without TLS so
# the plain transport can be tested at all.
OVERRIDES = {
    ("lmtp", "check_spf"): "no",
    ("lmtp", "check_dkim"): "no",
    ("lmtp", "check_dmarc"): "no",
    ("auth", "allow_plaintext_auth"): "yes",
}


def sandbox(make_sandbox, extra=None, daemons=("pop3d", "lmtpd", "imapd")):
    opts = dict(OVERRIDES)
    opts.update(extra or {})
    return make_sandbox(opts).start(*daemons)


def message(i, body=None):
    body = body if body is not None else b"Body of message %d.\r\n" % i
    return (b"From: Sender <s%d@example.test>\r\n"
            b"To: demo@example.test\r\n"
            b"Subject: message %d\r\n"
            b"Message-ID: <m%d@example.test>\r\n"
            b"\r\n" % (i, i, i)) + body


def deliver(sb, bodies, rcpt=USER):
    """Delivers each message over LMTP, in one session."""
    s = smtplib.LMTP("127.0.0.1", sb.ports["lmtp"])
    s.ehlo("mta.example.test")
    for body in bodies:
        assert s.sendmail("sender@example.test", [rcpt], body) == {}
    s.quit()


def maildir(sb, user=USER):
    return os.path.join(sb.dir, "data", "users", user, "Maildir")


def message_files(sb):
    """The stored message files of INBOX, by UID."""
    files = {}
    for path in glob.glob(os.path.join(maildir(sb), "cur", "*")):
        m = re.search(r",U=(\d+):2,", path)
        assert m, path
        files[int(m.group(1))] = path
    return files


def stored(sb):
    """The stored bytes of every INBOX message, in UID order."""
    files = message_files(sb)
    return [open(files[uid], "rb").read() for uid in sorted(files)]


def pop(sb, transport, login=True, user=USER, password=PASSWORD, timeout=30):
    """A poplib client over the transport, logged in."""
    if transport == "pop3s":
        p = poplib.POP3_SSL("127.0.0.1", sb.ports["pop3s"], context=tls_context(), timeout=timeout)
    else:
        p = poplib.POP3("127.0.0.1", sb.ports["pop3"], timeout=timeout)
        if transport == "stls":
            p.stls(context=tls_context())
    if login:
        p.user(user)
        assert p.pass_(password) == b"+OK Logged in."
    return p


def raw(sb, transport, login=True, timeout=30.0):
    """A LineClient over the transport, past the greeting (and logged in)."""
    if transport == "pop3s":
        c = LineClient(sb.ports["pop3s"], tls=True, timeout=timeout)
    else:
        c = LineClient(sb.ports["pop3"], timeout=timeout)
    assert c.line() == "+OK Petrel ready."
    if transport == "stls":
        c.send("STLS\r\n")
        assert c.line() == "+OK Begin TLS negotiation now."
        c.starttls()
    if login:
        c.send("USER %s\r\nPASS %s\r\n" % (USER, PASSWORD))
        assert c.line() == "+OK Send PASS now."
        assert c.line() == "+OK Logged in."
    return c


def recv_more(c):
    chunk = c.sock.recv(1 << 20)
    if not chunk:
        raise EOFError("connection closed; buffered: %r" % c.buf[:300])
    c.buf += chunk


def raw_line(c):
    """One line with its CRLF, as bytes."""
    while b"\r\n" not in c.buf:
        recv_more(c)
    end = c.buf.index(b"\r\n") + 2
    line, c.buf = c.buf[:end], c.buf[end:]
    return line


def raw_multiline(c):
    """The bytes of a multi-line response after its first line, up to and
    including the terminating ".\r\n" (still dot-stuffed)."""
    data = bytearray()
    while True:
        line = raw_line(c)
        data += line
        if line == b".\r\n":
            return bytes(data)


def unstuff(data):
    """The message a multi-line response carries (RFC 1939 3)."""
    assert data.endswith(b".\r\n")
    lines = data[:-3].split(b"\r\n")
    assert lines[-1] == b""
    return b"\r\n".join(l[1:] if l.startswith(b".") else l for l in lines[:-1]) + b"\r\n"


def imap(sb):
    m = imaplib.IMAP4_SSL("127.0.0.1", sb.ports["imaps"], ssl_context=tls_context())
    m.login(USER, PASSWORD)
    return m


def imap_flags(sb):
    """{uid: flags string} of INBOX, read-only."""
    m = imap(sb)
    m.select("INBOX", readonly=True)
    typ, data = m.uid("FETCH", "1:*", "(FLAGS)")
    m.logout()
    out = {}
    for d in data:
        if d is None:
            continue
        mm = re.search(rb"UID (\d+) FLAGS \(([^)]*)\)", d)
        if mm:
            out[int(mm.group(1))] = mm.group(2).decode()
    return out


def imap_count(sb):
    m = imap(sb)
    typ, data = m.status("INBOX", "(MESSAGES)")
    m.logout()
    return int(re.search(rb"MESSAGES (\d+)", data[0]).group(1))


def uidvalidity(sb):
    m = imap(sb)
    typ, data = m.status("INBOX", "(UIDVALIDITY)")
    m.logout()
    return int(re.search(rb"UIDVALIDITY (\d+)", data[0]).group(1))
