"""petrel-pop3d after login: the maildrop commands of RFC 1939 (STAT, LIST,
UIDL, RETR, TOP, DELE, RSET, NOOP, QUIT and the UPDATE state), the
snapshot, the cross-process lock, the EXPIRE and LOGIN-DELAY policies and
the RFC 2449/3206 response codes - with Python's poplib and raw bytes over
plain 110, 110 after STLS, and 995. Mail is delivered through lmtpd; IMAP
and the Maildir files are the oracles."""

import os
import poplib
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import DAEMONS, MEMORY_BOUNDS, PASSWORD, USER, set_options, tls_context, wait_port
from pop3_helpers import (TRANSPORTS, deliver, imap, imap_count, imap_flags, maildir, message,
                          message_files, pop, raw, raw_line, raw_multiline, sandbox, stored,
                          uidvalidity, unstuff, wait_for)

DOTTY = message(2, b".starts with a dot\r\n..two dots\r\n.\r\nnot. a dot\r\n.\r\n")
LF_ONLY = message(3).replace(b"\r\n", b"\n")


@pytest.fixture(params=TRANSPORTS)
def transport(request):
    return request.param


@pytest.fixture
def sb(make_sandbox):
    return sandbox(make_sandbox)


# ------------------------------------------------------------ the commands

def test_every_command_with_poplib(sb, transport):
    deliver(sb, [message(1), DOTTY, LF_ONLY])
    files = stored(sb)
    assert b"\n" not in files[2].replace(b"\r\n", b"")  # the store keeps CRLF
    sizes = [len(f) for f in files]
    p = pop(sb, transport)
    assert p.stat() == (3, sum(sizes))
    resp, lines, octets = p.list()
    assert resp == b"+OK 3 messages (%d octets)" % sum(sizes)
    assert lines == [b"%d %d" % (i + 1, n) for i, n in enumerate(sizes)]
    assert p.list(2) == b"+OK 2 %d" % sizes[1]
    v = uidvalidity(sb)
    resp, lines, _ = p.uidl()
    assert lines == [b"%d %08x%08x" % (i, v, i) for i in (1, 2, 3)]
    assert p.uidl(3) == b"+OK 3 %08x%08x" % (v, 3)
    for i, data in enumerate(files):
        resp, lines, octets = p.retr(i + 1)
        assert resp == b"+OK %d octets" % len(data)
        # poplib removes the stuffing: the lines are the stored message's.
        assert b"\r\n".join(lines) + b"\r\n" == data
    header, body = files[1].split(b"\r\n\r\n", 1)
    resp, lines, _ = p.top(2, 0)
    assert resp == b"+OK Top of message 2 follows."
    assert b"\r\n".join(lines) + b"\r\n" == header + b"\r\n\r\n"
    resp, lines, _ = p.top(2, 2)
    assert lines[-2:] == [b".starts with a dot", b"..two dots"]
    resp, lines, _ = p.top(2, 1000)
    assert b"\r\n".join(lines) + b"\r\n" == files[1]
    assert p.noop() == b"+OK NOOP"
    assert p.dele(1) == b"+OK Marked to be deleted."
    assert p.stat() == (2, sum(sizes[1:]))
    assert [l.split()[0] for l in p.list()[1]] == [b"2", b"3"]
    assert [l.split()[0] for l in p.uidl()[1]] == [b"2", b"3"]
    with pytest.raises(poplib.error_proto, match=r"-ERR Message 1 is deleted\."):
        p.retr(1)
    assert p.rset() == b"+OK Maildrop has 3 messages (%d octets)." % sum(sizes)
    assert p.stat() == (3, sum(sizes))
    assert p.quit() == b"+OK Logging out."
    assert imap_count(sb) == 3


def test_wire_bytes(sb, transport):
    """The exact bytes: status lines, dot-stuffing, the terminator."""
    deliver(sb, [message(1), DOTTY])
    files = stored(sb)
    c = raw(sb, transport)
    c.send("STAT\r\n")
    assert raw_line(c) == b"+OK 2 %d\r\n" % (len(files[0]) + len(files[1]))
    c.send("RETR 2\r\n")
    assert raw_line(c) == b"+OK %d octets\r\n" % len(files[1])
    wire = raw_multiline(c)
    expected = b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n"
                        for l in files[1][:-2].split(b"\r\n")) + b".\r\n"
    assert wire == expected
    assert b"\r\n..starts with a dot\r\n...two dots\r\n..\r\nnot. a dot\r\n..\r\n.\r\n" in wire
    assert unstuff(wire) == files[1]
    c.send("LIST\r\n")
    assert raw_line(c) == b"+OK 2 messages (%d octets)\r\n" % (len(files[0]) + len(files[1]))
    assert raw_multiline(c) == b"1 %d\r\n2 %d\r\n.\r\n" % (len(files[0]), len(files[1]))
    c.send("UIDL\r\n")
    assert raw_line(c) == b"+OK Unique-ID listing follows\r\n"
    v = uidvalidity(sb)
    assert raw_multiline(c) == b"1 %08x00000001\r\n2 %08x00000002\r\n.\r\n" % (v, v)
    c.send("TOP 1 0\r\n")
    assert raw_line(c) == b"+OK Top of message 1 follows.\r\n"
    assert raw_multiline(c) == files[0].split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n.\r\n"
    c.send("QUIT\r\n")
    assert raw_line(c) == b"+OK Logging out.\r\n"
    assert c.expect_closed() == ""


def test_bare_lf_in_a_stored_file_goes_out_as_crlf(sb, transport):
    """A file another tool left in cur/ under our naming (S= and U= right)
    is indexed as it is, bare LFs included: RETR and TOP still send CRLF
    only, and LIST gives the stored size."""
    data = (b"From: tool@example.test\nSubject: lf only\n\nline one\n.dot line\nlast line\n")
    cur = os.path.join(maildir(sb), "cur")
    name = "1700000000.M1P1Q1.tool,S=%d,W=%d,U=1:2," % (len(data), len(data))
    with open(os.path.join(cur, name), "wb") as f:
        f.write(data)
    out = sb.ctl("store", "check", USER)
    assert "1 indexed" in out.stdout, out.stdout
    # Precondition: the store kept the file's bytes (bare LFs and all).
    assert stored(sb) == [data]
    c = raw(sb, transport)
    c.send("LIST 1\r\nRETR 1\r\n")
    assert raw_line(c) == b"+OK 1 %d\r\n" % len(data)
    assert raw_line(c) == b"+OK %d octets\r\n" % len(data)
    wire = raw_multiline(c)
    assert wire == data.replace(b"\n", b"\r\n").replace(b"\r\n.dot", b"\r\n..dot") + b".\r\n"
    assert re.search(rb"(?<!\r)\n", wire) is None
    c.send("TOP 1 1\r\n")
    raw_line(c)
    assert raw_multiline(c) == b"From: tool@example.test\r\nSubject: lf only\r\n\r\nline one\r\n.\r\n"
    c.close()


def test_pipelined_transaction(sb, transport):
    """RFC 2449 PIPELINING: every command in one write, answers in order."""
    deliver(sb, [message(1), DOTTY])
    files = stored(sb)
    c = raw(sb, transport, login=False)
    c.send("CAPA\r\nUSER %s\r\nPASS %s\r\nSTAT\r\nLIST\r\nRETR 2\r\nTOP 1 0\r\nDELE 1\r\n"
           "LIST 1\r\nSTAT\r\nRSET\r\nUIDL 2\r\nNOOP\r\nQUIT\r\n" % (USER, PASSWORD))
    total = len(files[0]) + len(files[1])
    assert raw_line(c) == b"+OK Capability list follows\r\n"
    raw_multiline(c)
    assert raw_line(c) == b"+OK Send PASS now.\r\n"
    assert raw_line(c) == b"+OK Logged in.\r\n"
    assert raw_line(c) == b"+OK 2 %d\r\n" % total
    assert raw_line(c) == b"+OK 2 messages (%d octets)\r\n" % total
    raw_multiline(c)
    assert raw_line(c) == b"+OK %d octets\r\n" % len(files[1])
    assert unstuff(raw_multiline(c)) == files[1]
    assert raw_line(c) == b"+OK Top of message 1 follows.\r\n"
    raw_multiline(c)
    assert raw_line(c) == b"+OK Marked to be deleted.\r\n"
    assert raw_line(c) == b"-ERR Message 1 is deleted.\r\n"
    assert raw_line(c) == b"+OK 1 %d\r\n" % len(files[1])
    assert raw_line(c) == b"+OK Maildrop has 2 messages (%d octets).\r\n" % total
    assert raw_line(c).startswith(b"+OK 2 ")
    assert raw_line(c) == b"+OK NOOP\r\n"
    assert raw_line(c) == b"+OK Logging out.\r\n"
    assert c.expect_closed() == ""
    assert imap_count(sb) == 2


def test_pipelined_retrieval_runs_keep_their_order(sb, transport):
    """A run of pipelined RETR/TOP is answered in one go by pop3d; every
    answer must still come in order, errors included: a message IMAP
    expunged since the snapshot, a file gone behind the store's back, a
    malformed command, a line too long, and a DELE that breaks the run."""
    deliver(sb, [message(i) for i in range(1, 7)])
    files = stored(sb)
    c = raw(sb, transport)
    m = imap(sb)
    m.select("INBOX")
    m.uid("STORE", "2", "+FLAGS", r"(\Deleted)")
    m.expunge()
    m.logout()
    os.unlink(message_files(sb)[3])
    c.send(b"RETR 1\r\nRETR 2\r\nRETR 3\r\nTOP 4 0\r\nRETR 5\r\nRETR x\r\nRETR 6\r\n" +
           b"RETR " + b"9" * 9000 + b"\r\nRETR 4\r\nDELE 4\r\nRETR 4\r\nRETR 5\r\n" +
           b"RETR 1\r\n" * 100 + b"STAT\r\n")

    def retr(n):
        assert raw_line(c) == b"+OK %d octets\r\n" % len(files[n - 1])
        assert unstuff(raw_multiline(c)) == files[n - 1]

    retr(1)
    assert raw_line(c) == b"-ERR Message 2 no longer exists.\r\n"
    assert raw_line(c) == b"-ERR [SYS/PERM] Message 3 cannot be read.\r\n"
    assert raw_line(c) == b"+OK Top of message 4 follows.\r\n"
    assert raw_multiline(c) == files[3].split(b"\r\n\r\n")[0] + b"\r\n\r\n.\r\n"
    retr(5)
    assert raw_line(c) == b"-ERR Invalid message number.\r\n"
    retr(6)
    assert raw_line(c) == b"-ERR Line too long.\r\n"
    retr(4)
    assert raw_line(c) == b"+OK Marked to be deleted.\r\n"
    assert raw_line(c) == b"-ERR Message 4 is deleted.\r\n"
    retr(5)
    for _ in range(100):
        retr(1)
    assert raw_line(c).startswith(b"+OK 5 ")
    c.send("QUIT\r\n")
    assert raw_line(c) == b"+OK Logging out, messages deleted.\r\n"
    # RETR'd messages are \Seen; 4 is gone; 2 was expunged by IMAP.
    assert imap_flags(sb) == {1: "\\Seen", 3: "", 5: "\\Seen", 6: "\\Seen"}


def test_retrieval_in_order_is_read_ahead(sb, transport):
    """A client that retrieves in order gets the next messages read ahead
    and answered from memory (pop3d/pop3_ahead.h): a message whose file is
    removed once the read-ahead is done still comes, as it was. The bytes
    are RETR's, dot-stuffing included; a message deleted meanwhile, one
    too large to read ahead, one whose file is gone before, and a step
    back are answered as without a read-ahead; only what was retrieved
    becomes \\Seen."""
    big = message(5, (b"z" * 98 + b"\r\n") * 3000)  # over 256 KB: never read ahead
    bodies = [message(i) for i in range(1, 13)]
    bodies[3] = message(4, b".starts with a dot\r\n..two dots\r\n.\r\nnot. a dot\r\n.\r\n")
    bodies[4] = big
    deliver(sb, bodies)
    files = stored(sb)
    c = raw(sb, transport)

    def retr(n):
        c.send("RETR %d\r\n" % n)
        assert raw_line(c) == b"+OK %d octets\r\n" % len(files[n - 1])
        assert unstuff(raw_multiline(c)) == files[n - 1]

    def noop():  # answered once the job (and its read-ahead) is over
        c.send("NOOP\r\n")
        assert raw_line(c) == b"+OK NOOP\r\n"

    retr(1)
    retr(2)  # in order: 3 and 4 read ahead; 5 is too large
    noop()
    os.unlink(message_files(sb)[4])
    c.send("DELE 3\r\n")
    assert raw_line(c) == b"+OK Marked to be deleted.\r\n"
    retr(4)  # from memory, stuffed as ever
    os.unlink(message_files(sb)[9])
    retr(5)  # in order: 6, 7, 8 read ahead; 9 cannot be
    retr(6)
    retr(1)  # a step back: read from the file again
    retr(7)
    retr(8)
    c.send("RETR 9\r\n")
    assert raw_line(c) == b"-ERR [SYS/PERM] Message 9 cannot be read.\r\n"
    c.send("RETR 10\r\nRETR 11\r\nRETR 12\r\nTOP 2 0\r\n")
    for n in (10, 11, 12):
        assert raw_line(c) == b"+OK %d octets\r\n" % len(files[n - 1])
        assert unstuff(raw_multiline(c)) == files[n - 1]
    assert raw_line(c) == b"+OK Top of message 2 follows.\r\n"
    raw_multiline(c)
    c.send("QUIT\r\n")
    assert raw_line(c) == b"+OK Logging out, messages deleted.\r\n"
    assert imap_flags(sb) == {**{n: "\\Seen" for n in (1, 2, 4, 5, 6, 7, 8, 10, 11, 12)}, 9: ""}


def test_large_listing_streams(make_sandbox):
    """LIST and UIDL of 3,000 messages: complete and in order, also to a
    client that reads nothing until all commands are sent."""
    sb = sandbox(make_sandbox, daemons=("pop3d", "lmtpd"))
    deliver(sb, [message(i) for i in range(3000)])
    c = raw(sb, "pop3s")
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.send("LIST\r\nUIDL\r\n" * 10 + "STAT\r\n")
    time.sleep(0.5)
    for _ in range(10):
        assert raw_line(c).startswith(b"+OK 3000 messages (")
        lines = raw_multiline(c).split(b"\r\n")
        assert [int(l.split()[0]) for l in lines[:-2]] == list(range(1, 3001))
        raw_line(c)
        assert len(raw_multiline(c).split(b"\r\n")) == 3002
    assert raw_line(c).startswith(b"+OK 3000 ")
    c.close()


# ------------------------------------------------ UPDATE, snapshot, locks

def test_dele_takes_effect_at_quit_and_imap_sees_expunge(sb, transport):
    deliver(sb, [message(i) for i in range(1, 5)])
    watcher = imap(sb)
    watcher.select("INBOX")
    p = pop(sb, transport)
    assert p.dele(1) == b"+OK Marked to be deleted."
    assert p.dele(3) == b"+OK Marked to be deleted."
    # Nothing happens before QUIT.
    assert imap_count(sb) == 4
    typ, data = watcher.noop()
    assert not watcher.untagged_responses.get("EXPUNGE")
    assert p.quit() == b"+OK Logging out, messages deleted."
    typ, data = watcher.noop()
    # UID 1 at 1, then UID 3, by then at 2 (RFC 3501 7.4.1).
    assert watcher.untagged_responses.get("EXPUNGE") == [b"1", b"2"]
    watcher.logout()
    # The files go right after QUIT's answer (store/graveyard.c).
    assert wait_for(lambda: sorted(message_files(sb)) == [2, 4])
    p = pop(sb, transport)
    assert p.stat()[0] == 2
    assert [l.split()[1] for l in p.uidl()[1]] == [b"%08x%08x" % (uidvalidity(sb), u) for u in (2, 4)]
    p.quit()


def test_dropped_connection_deletes_nothing(sb, transport):
    deliver(sb, [message(i) for i in range(1, 4)])
    p = pop(sb, transport)
    for i in (1, 2, 3):
        p.dele(i)
    p.close()  # no QUIT: no UPDATE state
    # The lock goes with the session; then all three are still there.
    assert wait_for(lambda: _can_login(sb, transport))
    p = pop(sb, transport)
    assert p.stat()[0] == 3
    p.quit()
    assert imap_count(sb) == 3


def _can_login(sb, transport):
    p = pop(sb, transport, login=False)
    p.user(USER)
    try:
        p.pass_(PASSWORD)
    except poplib.error_proto as e:
        assert b"[IN-USE]" in e.args[0], e
        return False
    p.quit()
    return True


def test_autologout_deletes_nothing(make_sandbox):
    """RFC 1939 3: the inactivity timer ends the session without UPDATE."""
    sb = sandbox(make_sandbox, {("pop3", "idle_timeout"): "1s"}, daemons=("pop3d", "lmtpd"))
    deliver(sb, [message(1)])
    c = raw(sb, "pop3s")
    c.send("DELE 1\r\n")
    assert raw_line(c) == b"+OK Marked to be deleted.\r\n"
    assert c.expect_closed(timeout=10) == "-ERR Disconnected for inactivity.\r\n"
    assert wait_for(lambda: _can_login(sb, "pop3s"))
    assert len(message_files(sb)) == 1


def test_session_is_a_snapshot(sb, transport):
    """New mail waits for the next session; a message IMAP expunges keeps
    its number, and RETR says it is gone."""
    deliver(sb, [message(1), message(2)])
    p = pop(sb, transport)
    deliver(sb, [message(3)])
    assert p.stat()[0] == 2
    assert len(p.list()[1]) == 2
    with pytest.raises(poplib.error_proto, match=r"-ERR There is no message 3\."):
        p.retr(3)
    m = imap(sb)
    m.select("INBOX")
    m.uid("STORE", "1", "+FLAGS", r"(\Deleted)")
    m.expunge()
    m.logout()
    assert p.stat()[0] == 2
    with pytest.raises(poplib.error_proto, match=r"-ERR Message 1 no longer exists\."):
        p.retr(1)
    assert p.retr(2)[0].startswith(b"+OK")
    assert p.quit() == b"+OK Logging out."
    p = pop(sb, transport)
    assert p.stat()[0] == 2  # 2 and 3
    assert [l.split()[1][-1:] for l in p.uidl()[1]] == [b"2", b"3"]
    p.quit()


def test_second_session_gets_in_use(sb, transport):
    first = pop(sb, transport)
    second = pop(sb, transport, login=False)
    second.user(USER)
    with pytest.raises(poplib.error_proto,
                       match=r"-ERR \[IN-USE\] Mailbox is locked by another POP3 session\."):
        second.pass_(PASSWORD)
    # The refused session is closed; the first one is unharmed.
    assert second.file.read() == b""
    assert first.noop() == b"+OK NOOP"
    # IMAP is not locked out.
    assert imap_count(sb) == 0
    assert first.quit() == b"+OK Logging out."
    # Released before "+OK" went out: an immediate login works.
    pop(sb, transport).quit()


def test_in_use_across_processes(make_sandbox):
    """Two pop3d processes on the same data (as with SO_REUSEPORT workers):
    a session in one locks out the other; its crash (SIGKILL) frees the
    maildrop."""
    sb = sandbox(make_sandbox, daemons=("pop3d", "lmtpd"))
    deliver(sb, [message(1)])
    conf2 = os.path.join(sb.dir, "second.conf")
    shutil.copy(sb.conf, conf2)
    port2, port2s = sb.base + 1110, sb.base + 1995
    set_options(conf2, {("pop3", "listen"): "127.0.0.1:%d" % port2,
                        ("pop3", "listen_tls"): "127.0.0.1:%d" % port2s})
    log2 = os.path.join(sb.dir, "second.log")
    with open(log2, "ab") as f:
        second = subprocess.Popen([DAEMONS["pop3d"], "-c", conf2, "-f"], stdout=f,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_port(port2s, second, log2)
        holder = pop(sb, "pop3s")
        other = poplib.POP3_SSL("127.0.0.1", port2s, context=tls_context(), timeout=30)
        other.user(USER)
        with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
            other.pass_(PASSWORD)
        holder.quit()
        other = poplib.POP3_SSL("127.0.0.1", port2s, context=tls_context(), timeout=30)
        other.user(USER)
        assert other.pass_(PASSWORD) == b"+OK Logged in."
        # The second process dies holding the lock: the kernel drops it.
        second.kill()
        second.wait()
        p = pop(sb, "pop3s")
        assert p.stat()[0] == 1
        p.quit()
    finally:
        if second.poll() is None:
            second.kill()
            second.wait()


def test_uidl_stable_across_sessions_and_index_rebuild(make_sandbox):
    sb = sandbox(make_sandbox, daemons=("pop3d", "lmtpd"))
    deliver(sb, [message(i) for i in range(1, 6)])
    p = pop(sb, "pop3s")
    p.dele(2)
    p.quit()
    p = pop(sb, "pop3s")
    before = p.uidl()[1]
    p.quit()
    ids = [l.split()[1] for l in before]
    assert len(set(ids)) == 4 and all(re.fullmatch(rb"[0-9a-f]{16}", i) for i in ids)
    sb.stop("pop3d")
    shutil.rmtree(os.path.join(sb.dir, "data", "users", USER, "index"))
    out = sb.ctl("store", "check", USER)
    assert out.returncode == 0
    sb.start("pop3d")
    p = pop(sb, "pop3s")
    assert p.uidl()[1] == before
    p.quit()


# ----------------------------------------------------------- \Seen policy

def test_retr_marks_seen_at_quit(sb, transport):
    deliver(sb, [message(1), message(2), message(3)])
    p = pop(sb, transport)
    p.retr(1)
    p.top(2, 5)
    assert imap_flags(sb) == {1: "", 2: "", 3: ""}  # not before QUIT
    p.quit()
    assert imap_flags(sb) == {1: "\\Seen", 2: "", 3: ""}


def test_retr_marks_seen_also_when_the_connection_drops(sb):
    deliver(sb, [message(1), message(2)])
    p = pop(sb, "pop3s")
    p.retr(2)
    p.dele(1)
    p.close()
    assert wait_for(lambda: imap_flags(sb).get(2) == "\\Seen")
    assert imap_flags(sb) == {1: "", 2: "\\Seen"}


def test_mark_seen_off(make_sandbox):
    sb = sandbox(make_sandbox, {("pop3", "mark_seen"): "no"})
    deliver(sb, [message(1)])
    p = pop(sb, "pop3s")
    p.retr(1)
    p.quit()
    assert imap_flags(sb) == {1: ""}


# -------------------------------------------------- EXPIRE, LOGIN-DELAY

def capa(p):
    return {k: v for k, v in p.capa().items()}


def test_expire_zero_deletes_what_was_retrieved(make_sandbox):
    sb = sandbox(make_sandbox, {("pop3", "expire"): "0"})
    deliver(sb, [message(1), message(2), message(3)])
    p = pop(sb, "pop3s", login=False)
    assert capa(p)["EXPIRE"] == ["0"]
    p.user(USER)
    p.pass_(PASSWORD)
    assert capa(p)["EXPIRE"] == ["0"]
    p.retr(1)
    p.top(2, 0)
    assert p.quit() == b"+OK Logging out, messages deleted."
    assert sorted(imap_flags(sb)) == [2, 3]
    # Retrieved, then the connection dropped: nothing is deleted.
    p = pop(sb, "pop3s")
    p.retr(1)
    p.close()
    assert wait_for(lambda: imap_flags(sb).get(2) == "\\Seen")
    assert sorted(imap_flags(sb)) == [2, 3]
    # RSET forgets the retrievals too.
    p = pop(sb, "pop3s")
    p.retr(2)
    p.rset()
    assert p.quit() == b"+OK Logging out."
    assert sorted(imap_flags(sb)) == [2, 3]


def test_expire_days_removes_old_read_mail(make_sandbox):
    sb = sandbox(make_sandbox, {("pop3", "expire"): "30"})
    m = imap(sb)
    old = '"01-Jan-2020 10:00:00 +0000"'
    m.append("INBOX", r"(\Seen)", old, message(1))   # old, read: goes
    m.append("INBOX", None, old, message(2))         # old, unread: stays
    m.append("INBOX", r"(\Seen)", None, message(3))  # recent, read: stays
    m.append("INBOX", None, old, message(4))         # old, retrieved now: goes
    m.logout()
    p = pop(sb, "pop3s")
    assert capa(p)["EXPIRE"] == ["30"]
    p.retr(4)
    assert p.quit() == b"+OK Logging out, messages deleted."
    assert sorted(imap_flags(sb)) == [2, 3]


def test_expire_never_and_unset(make_sandbox):
    sb = sandbox(make_sandbox, {("pop3", "expire"): "never"}, daemons=("pop3d",))
    p = pop(sb, "pop3s", login=False)
    assert capa(p)["EXPIRE"] == ["NEVER"]
    assert "LOGIN-DELAY" not in capa(p)
    p.quit()
    sb2 = sandbox(make_sandbox, daemons=("pop3d",))
    p = pop(sb2, "pop3s", login=False)
    assert "EXPIRE" not in capa(p)
    p.quit()


def test_login_delay(make_sandbox):
    sb = sandbox(make_sandbox, {("pop3", "login_delay"): "90s"}, daemons=("pop3d",))
    p = pop(sb, "pop3s", login=False)
    assert capa(p)["LOGIN-DELAY"] == ["90"]
    p.user(USER)
    p.pass_(PASSWORD)
    assert capa(p)["LOGIN-DELAY"] == ["90"]
    p.quit()
    p = pop(sb, "pop3s", login=False)
    p.user(USER)
    with pytest.raises(poplib.error_proto,
                       match=r"-ERR \[LOGIN-DELAY\] Logged in too recently; wait (89|90) seconds\."):
        p.pass_(PASSWORD)
    # The refusal did not restart the clock, and it holds across restarts
    # (the time is on disk, next to the lock).
    sb.stop("pop3d")
    sb.start("pop3d")
    p = pop(sb, "pop3s", login=False)
    p.user(USER)
    with pytest.raises(poplib.error_proto, match=r"\[LOGIN-DELAY\]"):
        p.pass_(PASSWORD)


# ------------------------------------------------------- SYS/TEMP, SYS/PERM

def test_sys_temp_when_the_maildrop_cannot_be_opened(sb, transport):
    """The lock file is unusable (a directory): a temporary failure, the
    connection closes, and nothing is held."""
    lock = os.path.join(sb.dir, "data", "users", USER, "pop3.lock")
    os.mkdir(lock)
    c = raw(sb, transport, login=False)
    c.send("USER %s\r\nPASS %s\r\n" % (USER, PASSWORD))
    assert c.line() == "+OK Send PASS now."
    assert c.expect_closed() == "-ERR [SYS/TEMP] Cannot open the mailbox now.\r\n"
    assert "op=maildrop_open" in sb.log("pop3d")
    os.rmdir(lock)
    pop(sb, transport).quit()


def test_sys_perm_when_a_message_file_is_gone(sb, transport):
    """The index has the message but its file was removed behind the
    store's back: RETR says so with [SYS/PERM]; the session goes on."""
    deliver(sb, [message(1), message(2)])
    os.unlink(message_files(sb)[1])
    c = raw(sb, transport)
    c.send("RETR 1\r\nRETR 2\r\n")
    assert raw_line(c) == b"-ERR [SYS/PERM] Message 1 cannot be read.\r\n"
    assert raw_line(c).startswith(b"+OK ")
    raw_multiline(c)
    c.send("QUIT\r\n")
    assert raw_line(c) == b"+OK Logging out.\r\n"


# ----------------------------------------------------- large messages

def big_message(mb):
    line = b"%s\r\n" % (b"." + b"x" * 98)  # every line needs stuffing
    body = line * (mb * 1024 * 1024 // len(line))
    return b"From: big@example.test\r\nSubject: big\r\n\r\n" + body


def test_50mb_retr_and_top_with_constant_memory(make_sandbox):
    """A 50 MB message, every line dot-stuffed, to a client that reads
    slowly: the server's memory stays flat while it streams, the bytes are
    exact, and another session is served meanwhile."""
    sb = sandbox(make_sandbox, {("lmtp", "max_message_size"): "60M"}, daemons=("pop3d", "lmtpd"))
    big = big_message(50)
    deliver(sb, [big])
    data = stored(sb)[0]
    assert data.endswith(big)
    expected = b"".join(b"." + l + b"\r\n" if l.startswith(b".") else l + b"\r\n"
                        for l in data[:-2].split(b"\r\n")) + b".\r\n"
    for command, want in ((b"RETR 1", expected),
                          (b"TOP 1 100000", None)):
        c = raw(sb, "pop3s", timeout=120)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        base = sb.rss_kb("pop3d")
        c.send(command + b"\r\n")
        assert raw_line(c).startswith(b"+OK ")
        got = bytearray()
        peak = base
        reads = 0
        while not got.endswith(b"\r\n.\r\n"):
            if c.buf:
                got += c.buf
                c.buf = b""
                continue
            chunk = c.sock.recv(65536)
            assert chunk, "closed early"
            got += chunk
            reads += 1
            if reads % 64 == 0:
                peak = max(peak, sb.rss_kb("pop3d"))
                time.sleep(0.01)  # a slow reader
        got = bytes(got)
        if want is not None:
            assert got == want
        else:
            # TOP 1 100000: the header, the blank line and 100,000 lines.
            header, body = data.split(b"\r\n\r\n", 1)
            lines = body.split(b"\r\n")[:100000]
            assert got == header + b"\r\n\r\n" + b"".join(b"." + l + b"\r\n" for l in lines) + b".\r\n"
        if MEMORY_BOUNDS:
            assert peak - base < 10 * 1024, (command, base, peak)
        c.send("QUIT\r\n")
        assert raw_line(c) == b"+OK Logging out.\r\n"
        c.close()
        assert wait_for(lambda: _can_login(sb, "pop3s"))


def test_other_sessions_are_served_while_one_client_stalls(make_sandbox):
    """A client asks for a 20 MB message and reads nothing: other users'
    sessions (and the server) carry on."""
    sb = sandbox(make_sandbox, daemons=("pop3d", "lmtpd"))
    sb.ctl("user", "add", "ann@example.test", "--password", "ann-pass")
    big = big_message(20)
    deliver(sb, [big])
    deliver(sb, [message(1)], rcpt="ann@example.test")
    stalled = raw(sb, "pop3s")
    stalled.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    base = sb.rss_kb("pop3d")
    stalled.send("RETR 1\r\n")
    time.sleep(1.0)
    t0 = time.monotonic()
    p = pop(sb, "pop3s", login=False)
    p.user("ann@example.test")
    p.pass_("ann-pass")
    assert p.retr(1)[0].startswith(b"+OK")
    p.quit()
    assert time.monotonic() - t0 < 10
    if MEMORY_BOUNDS:
        assert sb.rss_kb("pop3d") - base < 8 * 1024
    stalled.sock.settimeout(60)
    assert raw_line(stalled).startswith(b"+OK ")
    assert unstuff(raw_multiline(stalled)) == stored(sb)[0]


def test_shutdown_during_a_stalled_retr(make_sandbox):
    """SIGTERM while a RETR waits for a client that stopped reading: the
    server stops (within its grace period), and the response is cut short
    without a terminator - no "-ERR" lands inside the message."""
    sb = sandbox(make_sandbox, daemons=("pop3d", "lmtpd"))
    deliver(sb, [big_message(5)])
    c = raw(sb, "plain")
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    c.send("RETR 1\r\n")
    time.sleep(0.5)
    sb.procs["pop3d"].send_signal(signal.SIGTERM)
    # The client reads again: what was queued arrives, then the close.
    data = c.buf
    while True:
        chunk = c.sock.recv(1 << 20)
        if not chunk:
            break
        data += chunk
    sb.stop("pop3d")  # exited 0, with no sanitizer report
    assert data.startswith(b"+OK ")
    assert not data.endswith(b"\r\n.\r\n")
    assert b"-ERR" not in data
    assert "shutdown" in sb.log("pop3d")
