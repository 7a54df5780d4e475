"""Shared helpers for the LMTP delivery tests: a sandbox with lmtpd and a
loopback DNS server, and ways to look at what the store holds."""

import os
import re
import subprocess

from conftest import BUILD_DIR, USER, LineClient

TOOL = os.path.join(BUILD_DIR, "tests", "tools", "petrel-test-store")
AUTHSERV = "mx.petrel.test"


def lmtp_overrides(dns, extra=None):
    opts = {
        ("lmtp", "dns_servers"): dns.address if dns is not None else "127.0.0.1:9",
        ("lmtp", "dns_timeout"): "2s",
        ("lmtp", "authserv_id"): AUTHSERV,
    }
    opts.update(extra or {})
    return opts


def listing(sb, user=USER, mailbox="INBOX"):
    out = subprocess.run([TOOL, "list", sb.conf, user, mailbox], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return [(int(line.split("\t")[0]), line.split("\t", 1)[1]) for line in out.stdout.splitlines()]


def cat(sb, uid, user=USER, mailbox="INBOX"):
    out = subprocess.run([TOOL, "cat", sb.conf, user, mailbox, str(uid)], capture_output=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def header_block(raw):
    return raw.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")


def header_fields(raw, name):
    """Unfolded values of every field called name in the top header."""
    fields = re.split(r"\r\n(?![ \t])", header_block(raw))
    out = []
    for f in fields:
        if ":" in f and f.split(":", 1)[0].strip().lower() == name.lower():
            out.append(re.sub(r"\r\n[ \t]+", " ", f.split(":", 1)[1]).strip())
    return out


def verdicts(raw):
    """{method: result} from our Authentication-Results field."""
    ars = [v for v in header_fields(raw, "Authentication-Results") if v.startswith(AUTHSERV)]
    assert len(ars) == 1, ars
    return {m: r for m, r in re.findall(r"\b(spf|dkim|dmarc)=(\w+)", ars[0])}, ars[0]


def lmtp_client(sb, lhlo="mta.example.test"):
    c = LineClient(sb.ports["lmtp"])
    assert c.line().startswith("220 ")
    c.cmd("LHLO " + lhlo, prefix="250 ")
    return c


def transaction(c, mail_from, rcpts, message, xforward=None, mail_params=""):
    """One pipelined transaction; returns (MAIL reply, [RCPT replies],
    DATA reply or None, [per-recipient final replies])."""
    out = ""
    if xforward:
        out += "XFORWARD %s\r\n" % xforward
    out += "MAIL FROM:<%s>%s\r\n" % (mail_from, (" " + mail_params) if mail_params else "")
    out += "".join("RCPT TO:<%s>\r\n" % r for r in rcpts)
    out += "DATA\r\n"
    c.send(out)
    if xforward:
        assert c.line().startswith("250 ")
    mail = c.line()
    rcpt_replies = [c.line() for _ in rcpts]
    data = c.line()
    finals = []
    if data.startswith("354"):
        body = message if isinstance(message, bytes) else message.encode()
        body = body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        stuffed = b"\r\n".join((b"." + l if l.startswith(b".") else l) for l in body.split(b"\r\n"))
        if not stuffed.endswith(b"\r\n"):
            stuffed += b"\r\n"
        c.send(stuffed + b".\r\n")
        finals = [c.line() for r in rcpt_replies if r.startswith("250")]
    return mail, rcpt_replies, data, finals


def uid_of(reply):
    m = re.search(r"\(uid (\d+)\)", reply)
    assert m, reply
    return int(m.group(1))
