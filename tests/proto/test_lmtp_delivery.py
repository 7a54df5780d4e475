"""petrel-lmtpd mail transactions: MAIL/RCPT/DATA/BDAT with per-recipient
replies, the stored result byte for byte, trace fields, subaddressing,
quota, XFORWARD/XCLIENT, limits and hostile clients. Driven by
smtplib.LMTP, swaks and raw sockets."""

import os
import shutil
import smtplib
import socket
import subprocess
import time

import pytest

from conftest import USER, LineClient
from dnsserver import DnsServer
from lmtp_helpers import (AUTHSERV, cat, header_block, header_fields, listing, lmtp_client,
                          lmtp_overrides, transaction, uid_of, verdicts)

MSG = ("From: Ann <ann@sender.test>\r\nTo: demo@example.test\r\nSubject: hello\r\n"
       "Message-ID: <1@sender.test>\r\n\r\nLine one\r\n.starts with a dot\r\n..two dots\r\n"
       "last line\r\n")


@pytest.fixture(scope="module")
def dns():
    d = DnsServer({
        "sender.test": [("TXT", "v=spf1 ip4:192.0.2.10 -all")],
        "_dmarc.sender.test": [("TXT", "v=DMARC1; p=none")],
        "reject.test": [("TXT", "v=spf1 -all")],
        "_dmarc.reject.test": [("TXT", "v=DMARC1; p=reject")],
        "quarantine.test": [("TXT", "v=spf1 -all")],
        "slow.test": [("TIMEOUT", None)],
        "_dmarc.quarantine.test": [("TXT", "v=DMARC1; p=quarantine")],
    })
    yield d
    d.stop()


@pytest.fixture
def lmtp(make_sandbox, dns):
    sb = make_sandbox(lmtp_overrides(dns))
    for u in ("bob@example.test", "full@example.test"):
        sb.ctl("user", "add", u, "--password", "x")
    sb.ctl("quota", "set", "full@example.test", "--storage", "10")
    return sb.start("lmtpd")


def test_smtplib_delivery_stored_exactly(lmtp):
    s = smtplib.LMTP("127.0.0.1", lmtp.ports["lmtp"])
    s.ehlo("mta.example.test")
    assert s.has_extn("8bitmime") and s.has_extn("smtputf8") and s.has_extn("chunking")
    assert s.esmtp_features["size"] == str(50 * 1024 * 1024)
    refused = s.sendmail("ann@sender.test", [USER], MSG)
    assert refused == {}
    s.quit()
    (uid, subject), = listing(lmtp)
    assert subject == "hello"
    raw = cat(lmtp, uid)
    head, body = raw.split(b"\r\n\r\n", 1)
    # Dot-unstuffed, CRLF, byte for byte.
    assert body == b"Line one\r\n.starts with a dot\r\n..two dots\r\nlast line\r\n"
    lines = head.split(b"\r\n")
    assert lines[0] == b"Return-Path: <ann@sender.test>"
    assert lines[1] == b"Delivered-To: " + USER.encode()
    assert lines[2].startswith(b"Received: from mta.example.test ([127.0.0.1])")
    received = header_fields(raw, "Received")[0]
    assert "by localhost (Petrel) with LMTP id" in received
    assert "for <%s>;" % USER in received
    # The original header follows our fields unchanged.
    assert head.endswith(MSG.split("\r\n\r\n")[0].encode())
    v, ar = verdicts(raw)
    # Connected from 127.0.0.1, which sender.test's SPF does not list.
    assert v == {"spf": "fail", "dkim": "none", "dmarc": "fail"}, ar


def test_pipelined_per_recipient_replies(lmtp):
    c = lmtp_client(lmtp)
    big = "x" * 200
    mail, rcpts, data, finals = transaction(
        c, "ann@sender.test",
        [USER, "nobody@example.test", "full@example.test", "BOB@Example.TEST"],
        MSG.replace("last line", big), mail_params="SIZE=%d" % (len(MSG) + 200))
    assert mail == "250 2.1.0 Ok"
    assert rcpts[0] == "250 2.1.5 <%s> Ok" % USER
    assert rcpts[1] == "550 5.1.1 <nobody@example.test> User doesn't exist."
    assert rcpts[2] == "552 5.2.2 <full@example.test> Mailbox is full."
    assert rcpts[3] == "250 2.1.5 <BOB@example.test> Ok"
    assert data.startswith("354 ")
    assert len(finals) == 2
    assert finals[0].startswith("250 2.0.0 <%s> Saved (uid " % USER)
    assert finals[1].startswith("250 2.0.0 <BOB@example.test> Saved (uid ")
    assert [s for _, s in listing(lmtp)] == ["hello"]
    assert [s for _, s in listing(lmtp, "bob@example.test")] == ["hello"]
    assert listing(lmtp, "full@example.test") == []
    raw = cat(lmtp, uid_of(finals[1]), "bob@example.test")
    assert header_fields(raw, "Delivered-To") == ["BOB@example.test"]
    # Whole exchange in one packet, QUIT included.
    c.send("MAIL FROM:<>\r\nRCPT TO:<%s>\r\nDATA\r\nSubject: two\r\n\r\nx\r\n.\r\nQUIT\r\n" % USER)
    rest = c.expect_closed().split("\r\n")
    assert rest[0] == "250 2.1.0 Ok"
    assert rest[1].startswith("250 2.1.5")
    assert rest[2].startswith("354")
    assert rest[3].startswith("250 2.0.0 <%s> Saved" % USER)
    assert rest[4].startswith("221 2.0.0")


def test_quota_tempfail_setting(make_sandbox, dns):
    sb = make_sandbox(lmtp_overrides(dns, {("lmtp", "quota_full_tempfail"): "yes"}))
    sb.ctl("quota", "set", USER, "--storage", "10")
    sb.start("lmtpd")
    c = lmtp_client(sb)
    _, rcpts, data, _ = transaction(c, "a@sender.test", [USER], MSG, mail_params="SIZE=500")
    assert rcpts == ["452 4.2.2 <%s> Mailbox is full." % USER]
    assert data == "503 5.5.1 No valid recipients."
    # Quota reached only at delivery (no SIZE given, limit between the two).
    sb.ctl("quota", "set", USER, "--storage", str(len(MSG) + 50))
    c.send("RSET\r\n")
    assert c.line() == "250 2.0.0 OK"
    _, rcpts, data, finals = transaction(c, "a@sender.test", [USER], MSG + "y" * 400)
    assert rcpts[0].startswith("250")
    assert finals == ["452 4.2.2 <%s> Mailbox is full" % USER]
    assert listing(sb) == []


def test_swaks_pipelined_multi_recipient(lmtp):
    if shutil.which("swaks") is None:
        pytest.skip("swaks not installed")
    out = subprocess.run(
        ["swaks", "--protocol", "LMTP", "--server", "127.0.0.1", "--port", str(lmtp.ports["lmtp"]),
         "--helo", "mta.example.test", "--from", "ann@sender.test",
         "--to", "%s,nobody@example.test,full@example.test" % USER, "--pipeline",
         "--header", "Subject: via swaks", "--body", "swaks body"],
        capture_output=True, text=True, timeout=60)
    lines = out.stdout.splitlines()
    assert any("<** 550 5.1.1 <nobody@example.test>" in l for l in lines), out.stdout
    assert any("<** 552 5.2.2 <full@example.test>" in l for l in lines), out.stdout
    assert any(("<~  250 2.0.0 <%s> Saved" % USER) in l or ("<-  250 2.0.0 <%s> Saved" % USER) in l
               for l in lines), out.stdout
    assert [s for _, s in listing(lmtp)] == ["via swaks"]


def test_subaddress_to_existing_folder(lmtp):
    c = lmtp_client(lmtp)
    # "Junk" exists (a default folder); "nosuch" does not: INBOX.
    _, rcpts, _, finals = transaction(
        c, "a@sender.test", ["demo+Junk@example.test", "demo+nosuch@example.test"], MSG)
    assert rcpts == ["250 2.1.5 <demo+Junk@example.test> Ok",
                     "250 2.1.5 <demo+nosuch@example.test> Ok"]
    assert [s for _, s in listing(lmtp, USER, "Junk")] == ["hello"]
    assert [s for _, s in listing(lmtp, USER, "INBOX")] == ["hello"]
    raw = cat(lmtp, uid_of(finals[0]), USER, "Junk")
    assert header_fields(raw, "Delivered-To") == ["demo+Junk@example.test"]


def test_bdat_chunking(lmtp):
    c = lmtp_client(lmtp)
    c.send("MAIL FROM:<a@sender.test>\r\nRCPT TO:<%s>\r\n" % USER)
    assert c.line().startswith("250")
    assert c.line().startswith("250")
    part1 = b"Subject: chunked\r\n\r\n.no stuffing here\r\n"
    part2 = b"second chunk\r\n"
    c.send(b"BDAT %d\r\n" % len(part1) + part1 + b"BDAT %d LAST\r\n" % len(part2) + part2)
    assert c.line() == "250 2.0.0 %d octets received." % len(part1)
    final = c.line()
    assert final.startswith("250 2.0.0 <%s> Saved" % USER)
    body = cat(lmtp, uid_of(final)).split(b"\r\n\r\n", 1)[1]
    assert body == b".no stuffing here\r\nsecond chunk\r\n"
    # A chunk without a transaction is read and refused; the session goes on.
    c.send(b"RSET\r\nBDAT 5 LAST\r\nabcdeNOOP\r\n")
    assert c.line() == "250 2.0.0 OK"
    assert c.line() == "503 5.5.1 MAIL needed first."
    assert c.line() == "250 2.0.0 OK"
    # BDAT 0 LAST ends a message.
    c.send("MAIL FROM:<>\r\nRCPT TO:<%s>\r\nBDAT 14\r\nSubject: z\r\n\r\nBDAT 0 LAST\r\n" % USER)
    assert [c.line()[:3] for _ in range(3)] == ["250", "250", "250"]
    assert c.line().startswith("250 2.0.0 <%s> Saved" % USER)


def test_large_message_spooled_not_in_memory(lmtp):
    body = ("".join("%07d %s\r\n" % (i, "y" * 90) for i in range(60000))).encode()  # ~5.9 MB
    msg = b"Subject: big\r\n\r\n" + body
    rss_before = lmtp.rss_kb("lmtpd")
    c = lmtp_client(lmtp)
    _, _, data, finals = transaction(c, "a@sender.test", [USER], msg)
    assert finals[0].startswith("250 2.0.0")
    stored = cat(lmtp, uid_of(finals[0]))
    assert stored.split(b"\r\n\r\n", 1)[1] == body
    from conftest import MEMORY_BOUNDS
    if MEMORY_BOUNDS:
        assert lmtp.rss_kb("lmtpd") - rss_before < 4096
    # The connection reuses its emptied spool file: a smaller spooled
    # message and then one kept in memory carry nothing of the one before.
    for lines in (3000, 10):
        small = ("".join("%07d second %s\r\n" % (i, "z" * 80) for i in range(lines))).encode()
        _, _, _, finals = transaction(c, "a@sender.test", [USER], b"Subject: next\r\n\r\n" + small)
        assert finals[0].startswith("250 2.0.0")
        assert cat(lmtp, uid_of(finals[0])).split(b"\r\n\r\n", 1)[1] == small


def test_incoming_authentication_results_claiming_our_id_removed(lmtp):
    msg = ("Authentication-Results: %s; spf=pass smtp.mailfrom=forged@sender.test\r\n"
           "Authentication-Results: other.example; dkim=pass header.d=x.test\r\n"
           "authentication-results:  (comment) %s; dmarc=pass\r\n"
           "Subject: ar\r\n\r\nbody\r\n" % (AUTHSERV.upper(), AUTHSERV))
    c = lmtp_client(lmtp)
    _, _, _, finals = transaction(c, "a@sender.test", [USER], msg)
    raw = cat(lmtp, uid_of(finals[0]))
    ars = header_fields(raw, "Authentication-Results")
    assert len(ars) == 2
    assert ars[0].startswith(AUTHSERV + ";")  # ours, at the top
    assert ars[1] == "other.example; dkim=pass header.d=x.test"


def test_xforward_address_used_for_spf(lmtp):
    c = lmtp_client(lmtp)
    assert "250-XFORWARD NAME ADDR PROTO HELO" in c.cmd("LHLO mta", prefix="250 ")
    _, _, _, finals = transaction(c, "ann@sender.test", [USER], MSG,
                                  xforward="ADDR=192.0.2.10 NAME=mail.sender.test HELO=mail.sender.test PROTO=ESMTP")
    v, ar = verdicts(cat(lmtp, uid_of(finals[0])))
    assert v["spf"] == "pass", ar
    assert v["dmarc"] == "pass", ar
    assert "smtp.mailfrom=ann@sender.test" in ar
    assert "192.0.2.10: " in ar
    # XFORWARD lasts for the session; ADDR=[UNAVAILABLE] means the client
    # address is unknown: no SPF verdict (not one about the MTA).
    _, _, _, finals = transaction(c, "ann@sender.test", [USER], MSG, xforward="ADDR=[UNAVAILABLE]")
    v, ar = verdicts(cat(lmtp, uid_of(finals[0])))
    assert "spf" not in v, ar
    # XCLIENT: new greeting, LHLO again; IPv6 in Postfix's form.
    c.send("XCLIENT ADDR=192.0.2.10 HELO=mail.sender.test\r\n")
    assert c.line() == "220 2.0.0 localhost Petrel LMTP ready"
    c.send("MAIL FROM:<a@sender.test>\r\n")
    assert c.line() == "503 5.5.1 Send LHLO first."
    c.cmd("LHLO mta", prefix="250 ")
    _, _, _, finals = transaction(c, "ann@sender.test", [USER], MSG)
    assert verdicts(cat(lmtp, uid_of(finals[0])))[0]["spf"] == "pass"
    c.send("XFORWARD ADDR=IPV6:2001:db8::1\r\nXFORWARD ADDR=not-an-ip\r\n")
    assert c.line() == "250 2.0.0 Ok"
    assert c.line().startswith("501 5.5.4")


def test_xforward_refused_from_untrusted(make_sandbox, dns):
    sb = make_sandbox(lmtp_overrides(dns, {("lmtp", "xforward_trusted_networks"): "10.0.0.0/8"})).start("lmtpd")
    c = lmtp_client(sb)
    lhlo = c.cmd("LHLO mta", prefix="250 ")
    assert not any("XFORWARD" in l for l in lhlo)
    assert c.cmd("XFORWARD ADDR=192.0.2.10", prefix="5") == ["550 5.7.0 XFORWARD not allowed from this client."]
    assert c.cmd("XCLIENT ADDR=192.0.2.10", prefix="5") == ["550 5.7.0 XCLIENT not allowed from this client."]


def test_dmarc_actions(make_sandbox, dns):
    # reject.test asks for reject; quarantine.test for quarantine; SPF fails
    # for both and nothing is signed.
    for action, expect_reply, expect_box in [("reject", "550 5.7.1", None),
                                             ("junk", "250 2.0.0", "Junk"),
                                             ("tag", "250 2.0.0", "INBOX")]:
        sb = make_sandbox(lmtp_overrides(dns, {("lmtp", "dmarc_reject_action"): action,
                                               ("lmtp", "dmarc_quarantine_action"): "tag"}))
        sb.start("lmtpd")
        c = lmtp_client(sb)
        msg = MSG.replace("ann@sender.test", "x@reject.test")
        _, _, _, finals = transaction(c, "x@reject.test", [USER, "demo+Archive@example.test"], msg)
        assert [f[:9] for f in finals] == [expect_reply] * 2, finals
        if expect_box is None:
            assert finals[0] == "550 5.7.1 <%s> Message rejected: DMARC policy of reject.test." % USER
            assert listing(sb) == [] and listing(sb, USER, "Junk") == []
        else:
            assert len(listing(sb, USER, expect_box)) >= 1
            raw = cat(sb, uid_of(finals[0]), USER, expect_box)
            assert verdicts(raw)[0]["dmarc"] == "fail"
        # quarantine with action "tag" goes to INBOX (or the +detail folder).
        msg = MSG.replace("ann@sender.test", "x@quarantine.test")
        _, _, _, finals = transaction(c, "x@quarantine.test", [USER], msg)
        assert finals[0].startswith("250 2.0.0")
        assert "hello" in [s for _, s in listing(sb, USER, "INBOX")]
        sb.stop("lmtpd")


def test_limits(make_sandbox, dns):
    sb = make_sandbox(lmtp_overrides(dns, {("lmtp", "max_message_size"): "100k",
                                           ("lmtp", "max_recipients"): "3",
                                           ("lmtp", "max_header_size"): "8k"})).start("lmtpd")
    c = lmtp_client(sb)
    assert c.cmd("MAIL FROM:<a@sender.test> SIZE=200000", prefix="5") == [
        "552 5.3.4 Message size exceeds fixed maximum message size."]
    # Too big without SIZE: every recipient is told after the dot.
    _, _, _, finals = transaction(c, "a@sender.test", [USER, USER], "Subject: b\r\n\r\n" + "z" * 150000)
    assert finals == ["552 5.3.4 <%s> Message size exceeds fixed maximum message size." % USER] * 2
    _, _, _, finals = transaction(c, "a@sender.test", [USER], "X-Big: " + "h" * 10000 + "\r\n\r\nb\r\n")
    assert finals == ["552 5.3.4 <%s> Message header too large." % USER]
    _, rcpts, _, finals = transaction(c, "a@sender.test", [USER] * 5, MSG)
    assert rcpts[3:] == ["452 4.5.3 Too many recipients."] * 2
    assert len(finals) == 3 and all(f.startswith("250 2.0.0") for f in finals)
    assert len(listing(sb)) == 3
    # A 10 MB command line.
    c.send(b"MAIL FROM:<" + b"a" * (10 * 1024 * 1024) + b">\r\nNOOP\r\n")
    assert c.line() == "500 5.5.2 Line too long."
    assert c.line() == "250 2.0.0 OK"


def test_ten_thousand_recipients(lmtp):
    c = lmtp_client(lmtp)
    c.send("MAIL FROM:<a@sender.test>\r\n" + "".join(
        "RCPT TO:<u%d@example.test>\r\n" % i for i in range(10000)) + "DATA\r\n")
    assert c.line() == "250 2.1.0 Ok"
    replies = [c.line() for _ in range(10000)]
    # Unknown users: 550 each, until the bound on refused recipients.
    assert replies[0] == "550 5.1.1 <u0@example.test> User doesn't exist."
    assert all(r.startswith("550 5.1.1") or r == "452 4.5.3 Too many recipients." for r in replies)
    assert replies[-1] == "452 4.5.3 Too many recipients."
    assert c.line() == "503 5.5.1 No valid recipients."
    assert c.cmd("NOOP", prefix="250") == ["250 2.0.0 OK"]
    assert listing(lmtp) == []


def test_client_stops_mid_data(make_sandbox, dns):
    sb = make_sandbox(lmtp_overrides(dns, {("lmtp", "idle_timeout"): "2s"})).start("lmtpd")
    c = lmtp_client(sb)
    c.send("MAIL FROM:<a@sender.test>\r\nRCPT TO:<%s>\r\nDATA\r\n" % USER)
    assert [c.line()[:3] for _ in range(3)] == ["250", "250", "354"]
    c.send("Subject: cut\r\n\r\n" + "partial\r\n" * 20000)
    assert c.expect_closed(timeout=10).endswith("421 4.4.2 localhost Timeout, closing connection.\r\n")
    # A client that disconnects mid-DATA.
    c = lmtp_client(sb)
    c.send("MAIL FROM:<a@sender.test>\r\nRCPT TO:<%s>\r\nDATA\r\nSubject: cut2\r\n\r\nabc" % USER)
    c.close()
    time.sleep(0.3)
    assert listing(sb) == []
    assert os.listdir(os.path.join(sb.dir, "data", "spool")) == []
    # Still serving.
    c = lmtp_client(sb)
    assert transaction(c, "a@sender.test", [USER], MSG)[3][0].startswith("250 2.0.0")


def test_garbage_and_bad_syntax(lmtp):
    other = lmtp_client(lmtp)
    c = lmtp_client(lmtp)
    for cmd, reply in [
        ("MAIL FROM:a@b", "501 5.1.7 Bad sender address: Path must be enclosed in <>."),
        ("MAIL TO:<a@b>", "501 5.5.4 Syntax: MAIL FROM:<address>"),
        ("RCPT TO:<a@b>", "503 5.5.1 MAIL needed first."),
        ("DATA", "503 5.5.1 MAIL needed first."),
        ("MAIL FROM:<a@b> BODY=BINARYMIME", "555 5.5.4 Unsupported BODY type."),
        ("MAIL FROM:<a@b> FOO=1", "555 5.5.4 Unsupported parameter."),
        ("MAIL FROM:<a@b> SIZE=x", "501 5.5.4 Invalid MAIL parameters."),
        ("MAIL FROM:<a@b>", "250 2.1.0 Ok"),
        ("MAIL FROM:<a@b>", "503 5.5.1 MAIL already given."),
        ("RCPT TO:<>", "501 5.1.3 Bad recipient address: Null path not allowed here."),
        ("RCPT TO:<%s> NOTIFY=NEVER" % USER, "555 5.5.4 Unsupported parameter."),
        ("BDAT x", "501 5.5.4 Syntax: BDAT size [LAST]; closing."),
    ]:
        c.send(cmd + "\r\n")
        assert c.line() == reply, cmd
    c.expect_closed()
    # Binary garbage: errors, then the connection is closed after too many.
    g = lmtp_client(lmtp)
    g.send(bytes(range(1, 256)) * 40 + b"\r\n" + b"\x00\xff garbage\r\n" * 20)
    out = g.expect_closed()
    assert "421 4.7.0" in out
    # The other client never noticed.
    assert transaction(other, "a@sender.test", [USER], MSG)[3][0].startswith("250 2.0.0")


def test_dns_timeout_is_temperror_and_loop_keeps_serving(make_sandbox, dns):
    sb = make_sandbox(lmtp_overrides(dns, {("lmtp", "dns_timeout"): "1500ms"})).start("lmtpd")
    c = lmtp_client(sb)
    other = lmtp_client(sb)
    start = time.monotonic()
    c.send("XFORWARD ADDR=192.0.2.10\r\nMAIL FROM:<a@slow.test>\r\nRCPT TO:<%s>\r\nDATA\r\n" % USER)
    assert [c.line()[:3] for _ in range(4)] == ["250", "250", "250", "354"]
    c.send("From: a@slow.test\r\nSubject: slow\r\n\r\nx\r\n.\r\n")
    # While this delivery waits for DNS, the loop answers others at once.
    t = time.monotonic()
    assert other.cmd("NOOP", prefix="250") == ["250 2.0.0 OK"]
    assert time.monotonic() - t < 0.5
    final = c.line()
    elapsed = time.monotonic() - start
    assert final.startswith("250 2.0.0"), final
    assert 1.0 < elapsed < 6.0, elapsed
    v, ar = verdicts(cat(sb, uid_of(final)))
    assert v["spf"] == "temperror", ar
    assert v["dmarc"] == "none", ar  # _dmarc.slow.test itself answers NXDOMAIN


def test_unix_socket_without_xforward_has_no_spf_verdict(lmtp):
    s = smtplib.LMTP(os.path.join(lmtp.dir, "run", "lmtp.sock"))
    s.ehlo("mta.example.test")
    assert s.has_extn("xforward")  # trusted: xforward_trust_unix_socket = yes
    s.sendmail("ann@sender.test", [USER], MSG)
    s.quit()
    (uid, _), = listing(lmtp)
    raw = cat(lmtp, uid)
    v, ar = verdicts(raw)
    assert "spf" not in v and v["dkim"] == "none", ar
    assert header_fields(raw, "Received")[0].startswith("from mta.example.test (unix socket)")
