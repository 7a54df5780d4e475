"""petrel-imapd after login: mailboxes, APPEND, SELECT, FETCH, STORE, COPY,
EXPUNGE, SEARCH, UID commands and IDLE - with Python's imaplib over 993 and
raw bytes where the RFC fixes the form."""

import imaplib
import re
import smtplib
import time

import pytest

from conftest import PASSWORD, USER, LineClient, tls_context

MSG1 = (b"From: Ann Example <ann@example.test>\r\n"
        b"To: demo@example.test\r\n"
        b"Subject: first hello\r\n"
        b"Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
        b"Message-ID: <m1@example.test>\r\n"
        b"\r\n"
        b"Body of the first message about penguins.\r\n")

MSG2 = (b"From: Bob <bob@example.test>\r\n"
        b"To: demo@example.test\r\n"
        b"Cc: carol@example.test\r\n"
        b"Subject: second\r\n"
        b"Date: Tue, 8 Feb 1994 10:00:00 +0000\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
        b"\r\n"
        b"--XX\r\n"
        b"Content-Type: text/plain; charset=us-ascii\r\n"
        b"\r\n"
        b"part one text about albatross\r\n"
        b"--XX\r\n"
        b"Content-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n"
        b"\r\n"
        b"AAECAwQF\r\n"
        b"--XX--\r\n")


# Every test runs over each way a client connects: implicit TLS on 993,
# STARTTLS on 143, and plain 143 (LOGIN allowed there by the config, as an
# admin may for a trusted network).
@pytest.fixture(params=["993", "starttls", "plain"])
def imap(make_sandbox, request):
    overrides = {("auth", "allow_plaintext_auth"): "yes"} if request.param == "plain" else None
    sb = make_sandbox(overrides).start("imapd", "lmtpd")
    sb.transport = request.param
    return sb


def login(sb):
    if sb.transport == "993":
        m = imaplib.IMAP4_SSL("127.0.0.1", sb.ports["imaps"], ssl_context=tls_context())
    else:
        m = imaplib.IMAP4("127.0.0.1", sb.ports["imap"])
        if sb.transport == "starttls":
            m.starttls(ssl_context=tls_context())
    m.login(USER, PASSWORD)
    return m


def raw_login(sb):
    c = LineClient(sb.ports["imaps" if sb.transport == "993" else "imap"],
                   tls=sb.transport == "993")
    c.line()
    if sb.transport == "starttls":
        assert c.cmd("s STARTTLS")[-1].startswith("s OK")
        c.starttls()
    assert c.cmd("l LOGIN %s %s" % (USER, PASSWORD))[-1].startswith("l OK")
    return c


def deliver(sb, body, rcpt=USER):
    s = smtplib.LMTP("127.0.0.1", sb.ports["lmtp"])
    s.ehlo("mta.example.test")
    assert s.sendmail("sender@example.test", [rcpt], body) == {}
    s.quit()


def test_list_lsub_and_special_use(imap):
    c = raw_login(imap)
    lines = c.cmd('a LIST "" "*"')
    assert lines[-1] == "a OK List completed."
    boxes = {l.rsplit(" ", 1)[1].strip('"'): l for l in lines[:-1]}
    assert set(boxes) == {"INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"}
    assert boxes["Sent"] == '* LIST (\\HasNoChildren \\Sent) "/" "Sent"'
    assert boxes["INBOX"] == '* LIST (\\HasNoChildren) "/" "INBOX"'
    assert c.cmd('b LIST "" ""') == ['* LIST (\\Noselect) "/" ""', "b OK List completed."]
    assert c.cmd("c CREATE a/b/c")[-1] == "c OK Create completed."
    lines = c.cmd('d LIST "" "%"')
    assert '* LIST (\\Noselect \\HasChildren) "/" "a"' in lines or \
        '* LIST (\\HasChildren) "/" "a"' in lines
    assert not any('"a/b"' in l for l in lines)
    lines = c.cmd('e LIST "a/" "*"')
    assert any(l.endswith('"a/b/c"') and "\\HasNoChildren" in l for l in lines)
    assert c.cmd("f SUBSCRIBE a/b/c")[-1] == "f OK Subscribe completed."
    lines = c.cmd('g LSUB "" "%"')
    assert '* LSUB (\\Noselect) "/" "a"' in lines
    assert '* LSUB () "/" "INBOX"' in lines
    assert c.cmd("h UNSUBSCRIBE a/b/c")[-1] == "h OK Unsubscribe completed."
    # Modified UTF-7 both ways.
    assert c.cmd("i CREATE &ZeVnLIqe-")[-1] == "i OK Create completed."
    assert '* LIST (\\HasNoChildren) "/" "&ZeVnLIqe-"' in c.cmd('j LIST "" "&ZeVnLIqe-"')
    assert c.cmd("k CREATE &Jjo")[-1].startswith("k BAD")
    c.close()


def test_create_delete_rename_status(imap):
    m = login(imap)
    assert m.create("Work")[0] == "OK"
    typ, data = m.create("Work")
    assert typ == "NO" and b"[ALREADYEXISTS]" in data[0]
    m.append("Work", r"(\Seen)", None, MSG1)
    m.append("Work", None, None, MSG2)
    typ, data = m.status("Work", "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)")
    assert typ == "OK"
    st = data[0].decode()
    assert re.fullmatch(r'"Work" \(MESSAGES 2 RECENT 2 UIDNEXT 3 UIDVALIDITY \d+ UNSEEN 1\)', st), st
    assert m.rename("Work", "Play")[0] == "OK"
    assert m.status("Work", "(MESSAGES)")[0] == "NO"
    assert b"MESSAGES 2" in m.status("Play", "(MESSAGES)")[1][0]
    typ, data = m.delete("INBOX")
    assert typ == "NO"
    assert m.delete("Play")[0] == "OK"
    typ, data = m.status("Play", "(MESSAGES)")
    assert typ == "NO" and b"[NONEXISTENT]" in data[0]
    m.logout()


def test_rename_inbox_moves_messages(imap):
    m = login(imap)
    m.append("INBOX", None, None, MSG1)
    assert m.rename("INBOX", "Old")[0] == "OK"
    assert b"MESSAGES 1" in m.status("Old", "(MESSAGES)")[1][0]
    assert b"MESSAGES 0" in m.status("INBOX", "(MESSAGES)")[1][0]
    m.logout()


def test_append_bytes_appenduid_and_trycreate(imap):
    c = raw_login(imap)
    c.send(b"a APPEND INBOX (\\Flagged) \"07-Feb-1994 21:52:25 -0800\" {%d}\r\n" % len(MSG1))
    assert c.line() == "+ OK"
    c.send(MSG1 + b"\r\n")
    reply = c.line()
    assert re.fullmatch(r"a OK \[APPENDUID \d+ 1\] Append completed\.", reply), reply
    # LITERAL+: no continuation.
    c.send(b"b APPEND INBOX {%d+}\r\n" % len(MSG2) + MSG2 + b"\r\n")
    assert re.fullmatch(r"b OK \[APPENDUID \d+ 2\] Append completed\.", c.line())
    # A missing mailbox is refused before the message is sent.
    c.send(b"c APPEND Nowhere {5}\r\n")
    assert c.line() == "c NO [TRYCREATE] Mailbox doesn't exist."
    # ... and with a non-synchronising literal, its bytes are dropped.
    c.send(b"d APPEND Nowhere {5+}\r\nhello\r\n")
    assert c.line() == "d NO [TRYCREATE] Mailbox doesn't exist."
    assert c.cmd("e NOOP") == ["e OK NOOP completed."]
    c.send(b"f APPEND INBOX {0}\r\n")
    assert c.line().startswith("f NO")
    c.send(b'g APPEND INBOX "bad date" {5}\r\n')
    assert c.line().startswith("g BAD")
    lines = c.cmd("h SELECT INBOX")
    assert "* 2 EXISTS" in lines
    lines = c.cmd("i FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE)")
    assert lines[0] == ('* 1 FETCH (FLAGS (\\Flagged \\Recent) INTERNALDATE '
                        '"08-Feb-1994 05:52:25 +0000" RFC822.SIZE %d)' % len(MSG1))
    c.close()


def test_select_examine_responses(imap):
    m = login(imap)
    m.append("INBOX", r"(\Seen)", None, MSG1)
    m.append("INBOX", None, None, MSG2)
    c = raw_login(imap)
    lines = c.cmd("a SELECT INBOX")
    assert lines[0].startswith("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft")
    assert lines[1].startswith("* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft")
    assert lines[1].endswith("\\*)] Flags permitted.")
    assert "* 2 EXISTS" in lines and "* 2 RECENT" in lines
    assert "* OK [UNSEEN 2] First unseen." in lines
    assert any(re.fullmatch(r"\* OK \[UIDVALIDITY \d+\] UIDs valid", l) for l in lines)
    assert "* OK [UIDNEXT 3] Predicted next UID" in lines
    assert lines[-1] == "a OK [READ-WRITE] Select completed."
    # \Recent went to the first session.
    lines = c.cmd("b EXAMINE INBOX")
    assert "* 0 RECENT" in lines and lines[-1] == "b OK [READ-ONLY] Examine completed."
    assert "* OK [PERMANENTFLAGS ()] Read-only mailbox." in lines
    assert c.cmd("c STORE 1 +FLAGS (\\Deleted)")[-1] == "c NO [READ-ONLY] Mailbox is read-only."
    lines = c.cmd("d SELECT Nowhere")
    assert lines[-1] == "d NO [NONEXISTENT] Mailbox doesn't exist."
    assert c.cmd("e FETCH 1 FLAGS") == ["e BAD No mailbox selected."]
    c.close()
    m.logout()


def test_fetch_items_and_sections(imap):
    m = login(imap)
    m.append("INBOX", None, None, MSG1)
    m.append("INBOX", None, None, MSG2)
    m.select("INBOX")
    typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (Subject From)])")
    assert data[0][1] == b"From: Ann Example <ann@example.test>\r\nSubject: first hello\r\n\r\n"
    assert b"BODY[HEADER.FIELDS (SUBJECT FROM)]" in data[0][0]
    typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS.NOT (Subject From To Date Message-ID)])")
    assert data[0][1] == b"\r\n"
    typ, data = m.fetch("1", "(BODY.PEEK[])")
    assert data[0][1] == MSG1
    typ, data = m.fetch("1", "(BODY.PEEK[]<0.10>)")
    assert data[0][1] == MSG1[:10] and b"BODY[]<0>" in data[0][0]
    typ, data = m.fetch("1", "(BODY.PEEK[TEXT]<5.1000>)")
    assert data[0][1] == MSG1.split(b"\r\n\r\n", 1)[1][5:]
    typ, data = m.fetch("2", "(BODY.PEEK[1] BODY.PEEK[2.MIME] BODY.PEEK[3])")
    # imaplib: one (prefix, literal) tuple per literal, then the tail.
    assert data[0] == (b"2 (BODY[1] {29}", b"part one text about albatross")
    assert data[1] == (b" BODY[2.MIME] {77}",
                       b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n")
    assert data[2] == b' BODY[3] "")'
    typ, data = m.fetch("2", "(BODYSTRUCTURE)")
    bs = data[0].decode()
    assert '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 29 1' in bs.lower() or \
        '("text" "plain" ("charset" "us-ascii")' in bs.lower()
    assert '"mixed"' in bs.lower() and '"boundary" "xx"' in bs.lower()
    typ, data = m.fetch("1", "(ENVELOPE)")
    env = data[0].decode()
    assert '"Mon, 7 Feb 1994 21:52:25 -0800" "first hello" (("Ann Example" NIL "ann" "example.test"))' in env
    typ, data = m.fetch("1:2", "(FLAGS)")
    assert [d.decode() for d in data] == ["1 (FLAGS (\\Recent))", "2 (FLAGS (\\Recent))"]
    # BODY[] without PEEK sets \Seen and reports FLAGS with the message.
    typ, data = m.fetch("1", "(BODY[HEADER.FIELDS (Subject)])")
    assert b"FLAGS (\\Seen \\Recent)" in data[0][0] or b"FLAGS (\\Seen \\Recent)" in data[1]
    typ, data = m.fetch("1", "(RFC822.SIZE RFC822.HEADER)")
    assert data[0][1] == MSG1.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    typ, data = m.uid("FETCH", "2", "(FLAGS)")
    assert data[0] == b"2 (UID 2 FLAGS (\\Recent))"
    typ, data = m.fetch("1", "(FAST)")
    assert b"RFC822.SIZE %d" % len(MSG1) in data[0]
    m.logout()


def test_fetch_errors(imap):
    m = login(imap)
    m.append("INBOX", None, None, MSG1)
    c = raw_login(imap)
    c.cmd("s SELECT INBOX")
    assert c.cmd("a FETCH 5 FLAGS")[-1].startswith("a BAD")
    assert c.cmd("b FETCH 1 (FLAGS BOGUS)")[-1].startswith("b BAD")
    assert c.cmd("c FETCH 1 BODY[1.0]")[-1].startswith("c BAD")
    assert c.cmd("d FETCH x:y FLAGS")[-1].startswith("d BAD")
    assert c.cmd("e UID FETCH 99 FLAGS") == ["e OK Fetch completed."]
    assert c.cmd("f FETCH 1 (UID)") == ["* 1 FETCH (UID 1)", "f OK Fetch completed."]
    c.close()
    m.logout()


def test_large_body_streams(imap):
    body = b"".join(b"%07d %s\r\n" % (i, b"x" * 90) for i in range(30000))  # ~3 MB
    msg = b"Subject: big\r\n\r\n" + body
    m = login(imap)
    m.append("INBOX", None, None, msg)
    m.select("INBOX")
    typ, data = m.fetch("1", "(BODY.PEEK[TEXT] UID)")
    assert typ == "OK" and data[0][1] == body
    assert b"UID 1" in data[0][0] or b"UID 1" in data[1]
    m.logout()


def test_store_copy_expunge_uidplus(imap):
    m = login(imap)
    for _ in range(3):
        m.append("INBOX", None, None, MSG1)
    c = raw_login(imap)
    c.cmd("s SELECT INBOX")
    assert c.cmd("a STORE 1:2 +FLAGS (\\Deleted custom1)") == [
        "* 1 FETCH (FLAGS (\\Deleted custom1 \\Recent))",
        "* 2 FETCH (FLAGS (\\Deleted custom1 \\Recent))",
        "a OK Store completed."]
    assert c.cmd("b STORE 2 -FLAGS.SILENT (custom1)") == ["b OK Store completed."]
    assert c.cmd("c UID STORE 3 FLAGS (\\Seen)") == [
        "* 3 FETCH (FLAGS (\\Seen \\Recent) UID 3)", "c OK Store completed."]
    assert c.cmd("d STORE 1 +FLAGS (\\Recent)")[-1].startswith("d BAD")
    lines = c.cmd("e COPY 1:3 Trash")
    assert re.fullmatch(r"e OK \[COPYUID \d+ 1:3 1:3\] Copy completed\.", lines[-1]), lines
    assert c.cmd("f COPY 1 Nowhere") == ["f NO [TRYCREATE] Mailbox doesn't exist."]
    # UID EXPUNGE removes only the named \Deleted message.
    assert c.cmd("g UID EXPUNGE 2") == ["* 2 EXPUNGE", "g OK Expunge completed."]
    assert c.cmd("h EXPUNGE") == ["* 1 EXPUNGE", "h OK Expunge completed."]
    assert c.cmd("i FETCH 1 (UID FLAGS)") == ["* 1 FETCH (UID 3 FLAGS (\\Seen \\Recent))",
                                               "i OK Fetch completed."]
    assert c.cmd("j CLOSE") == ["j OK Close completed."]
    assert c.cmd("k FETCH 1 UID") == ["k BAD No mailbox selected."]
    c.close()
    m.logout()


def test_search(imap):
    m = login(imap)
    m.append("INBOX", r"(\Seen)", '"07-Feb-1994 21:52:25 +0000"', MSG1)
    m.append("INBOX", r"(\Flagged)", '"09-Feb-1994 10:00:00 +0000"', MSG2)
    m.select("INBOX")
    def s(*criteria):
        typ, data = m.search(None, *criteria)
        assert typ == "OK", data
        return data[0].decode()
    assert s("ALL") == "1 2"
    assert s("SEEN") == "1" and s("UNSEEN") == "2" and s("FLAGGED") == "2"
    assert s("SUBJECT", "hello") == "1"
    assert s("FROM", "bob") == "2"
    assert s("CC", "carol") == "2"
    assert s("BODY", "albatross") == "2"
    assert s("TEXT", "penguins") == "1"
    assert s("OR", "SEEN", "FLAGGED") == "1 2"
    assert s("NOT", "SEEN") == "2"
    assert s("(SEEN", "SUBJECT", "hello)") == "1"
    assert s("SINCE", "08-Feb-1994") == "2"
    assert s("BEFORE", "08-Feb-1994") == "1"
    assert s("SENTON", "08-Feb-1994") == "2"
    assert s("LARGER", str(len(MSG1))) == "2" and s("SMALLER", str(len(MSG2))) == "1"
    assert s("2") == "2" and s("1:*") == "1 2"
    assert s("UID", "2") == "2"
    assert s("HEADER", "Message-ID", "m1@example") == "1"
    assert s("NEW") == "2"
    typ, data = m.uid("SEARCH", None, "ALL")
    assert data[0] == b"1 2"
    typ, data = m.search("KOI8-R", "ALL")
    assert typ == "NO" and b"[BADCHARSET" in data[0]
    with pytest.raises(imaplib.IMAP4.error):
        m.search(None, "BOGUS")
    m.logout()


def test_idle_push_from_delivery_and_other_session(imap):
    c = raw_login(imap)
    c.cmd("s SELECT INBOX")
    c.send("i IDLE\r\n")
    assert c.line() == "+ idling"
    t0 = time.monotonic()
    deliver(imap, MSG1)
    assert c.line() == "* 1 EXISTS"
    assert c.line() == "* 1 RECENT"
    assert time.monotonic() - t0 < 5
    other = login(imap)
    other.select("INBOX")
    other.store("1", "+FLAGS", r"(\Flagged)")
    assert c.line() == "* 1 FETCH (FLAGS (\\Flagged \\Recent) UID 1)"
    other.store("1", "+FLAGS", r"(\Deleted)")
    c.line()
    other.expunge()
    assert c.line() == "* 1 EXPUNGE"
    # DONE and the next command in one packet (iOS Mail).
    c.send("DONE\r\nn NOOP\r\n")
    assert c.line() == "i OK Idle completed."
    assert c.line() == "n OK NOOP completed."
    other.logout()
    c.close()


def test_noop_reports_new_mail(imap):
    c = raw_login(imap)
    c.cmd("s SELECT INBOX")
    deliver(imap, MSG1)
    deliver(imap, MSG2)
    assert c.cmd("n NOOP") == ["* 2 EXISTS", "* 2 RECENT", "n OK NOOP completed."]
    assert c.cmd("m NOOP") == ["m OK NOOP completed."]
    c.close()


def test_several_idle_sessions_of_one_user(imap):
    clients = []
    for i in range(3):
        c = raw_login(imap)
        c.cmd("s SELECT INBOX")
        c.send("i IDLE\r\n")
        assert c.line() == "+ idling"
        clients.append(c)
    # One more session idles on another mailbox and must hear nothing.
    other = raw_login(imap)
    other.cmd("s SELECT Trash")
    other.send("i IDLE\r\n")
    assert other.line() == "+ idling"
    deliver(imap, MSG1)
    for c in clients:
        assert c.line() == "* 1 EXISTS"
        assert c.line() in ("* 0 RECENT", "* 1 RECENT")
    other.send("DONE\r\n")
    assert other.line() == "i OK Idle completed."
    for c in clients:
        c.send("DONE\r\n")
        assert c.line() == "i OK Idle completed."
        c.close()
    other.close()
