"""Real IMAP clients against petrel-imapd over IMAPS: mbsync (isync) syncing a
2,000-message account to a local Maildir both ways, and mutt driven through
tmux like a person would. Both clients come from scripts/deps.sh; a missing
one fails the test rather than skipping it.

mbsync runs on a pty so that it prints its progress counters
("C: 1/1  B: 7/7  F: +0/0 *0/0 #0/0  N: +0/0 *0/0 #0/0"), which tell what
each run transferred. It stores messages with LF line ends and adds one
X-TUID header to every copy it makes, in either direction (the original
stays as it was); the byte comparisons allow for exactly that and nothing
else."""

import imaplib
import os
import re
import select
import shutil
import smtplib
import subprocess
import time

from conftest import PASSWORD, USER, LineClient, tls_context

MESSAGES = 2000
BATCH = 100
WAIT = 20.0
MAILDIR_FLAGS = {"D": "\\Draft", "F": "\\Flagged", "R": "\\Answered", "S": "\\Seen",
                 "T": "\\Deleted"}
IMAP_FLAGS = {v: k for k, v in MAILDIR_FLAGS.items()}


def require(tool):
    path = shutil.which(tool)
    assert path, "%s is not installed (scripts/deps.sh installs it)" % tool
    return path


def make_message(i):
    """Message i: plain, multipart or 8-bit UTF-8, of varied sizes."""
    head = (b"From: Sender %d <sender%d@example.test>\r\n" % (i % 17, i % 17) +
            b"To: demo@example.test\r\n"
            b"Subject: sync test message %04d\r\n" % i +
            b"Date: Mon, 7 Feb 1994 21:52:%02d -0800\r\n" % (i % 60) +
            b"Message-ID: <sync-%d@example.test>\r\n" % i)
    kind = i % 3
    if kind == 0:
        return head + b"\r\n" + b"".join(b"Plain line %d of message %d.\r\n" % (n, i)
                                         for n in range(1 + i % 40))
    if kind == 1:
        return (head + b"MIME-Version: 1.0\r\n"
                b"Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n" % i +
                b"--b%d\r\nContent-Type: text/plain\r\n\r\nPart one of %d.\r\n" % (i, i) +
                b"--b%d\r\nContent-Type: application/octet-stream\r\n"
                b"Content-Transfer-Encoding: base64\r\n\r\n" % i +
                b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\r\n" * (1 + i % 20) +
                b"--b%d--\r\n" % i)
    return (head + b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n\r\n" +
            "Grüße aus Köln, Nachricht %d \u2014 naïve café.\r\n".encode() % i)


def initial_flags(i):
    flags = set()
    if i % 5 == 0:
        flags.add("\\Seen")
    if i % 7 == 0:
        flags.add("\\Flagged")
    if i % 11 == 0:
        flags.add("\\Answered")
    if i % 13 == 0:
        flags.add("\\Draft")
    return flags


def raw_login(sb):
    c = LineClient(sb.ports["imaps"], tls=True, timeout=30.0)
    c.line()
    assert c.cmd("l LOGIN %s %s" % (USER, PASSWORD))[-1].startswith("l OK")
    return c


def fill_inbox(sb, count):
    """Appends count messages over one connection, LITERAL+ pipelined in
    batches; returns {uid: (bytes, flags)} from the APPENDUID codes."""
    c = raw_login(sb)
    out = {}
    for start in range(0, count, BATCH):
        batch = range(start, min(start + BATCH, count))
        data = b""
        for i in batch:
            msg = make_message(i)
            data += b"A%d APPEND INBOX (%s) {%d+}\r\n" % (
                i, " ".join(sorted(initial_flags(i))).encode(), len(msg)) + msg + b"\r\n"
        c.send(data)
        for i in batch:
            reply = c.line()
            m = re.fullmatch(r"A%d OK \[APPENDUID \d+ (\d+)\] .*" % i, reply)
            assert m, "APPEND %d: %r" % (i, reply)
            out[int(m.group(1))] = (make_message(i), initial_flags(i))
    assert c.cmd("z LOGOUT")[-1].startswith("z OK")
    c.close()
    return out


def imap_login(sb):
    m = imaplib.IMAP4_SSL("127.0.0.1", sb.ports["imaps"], ssl_context=tls_context())
    m.login(USER, PASSWORD)
    return m


def server_flags(sb, mailbox="INBOX"):
    """{uid: set of flags} of a mailbox, without touching \\Recent's owner."""
    m = imap_login(sb)
    typ, _ = m.select(mailbox, readonly=True)
    assert typ == "OK", mailbox
    typ, data = m.uid("FETCH", "1:*", "(FLAGS)")
    assert typ == "OK", data
    out = {}
    for line in data:
        if line is None:
            continue
        mm = re.fullmatch(rb"\d+ \(UID (\d+) FLAGS \(([^)]*)\)\)", line)
        assert mm, line
        out[int(mm.group(1))] = set(mm.group(2).decode().split()) - {"\\Recent"}
    m.logout()
    return out


def server_message(sb, uid, mailbox="INBOX"):
    m = imap_login(sb)
    m.select(mailbox, readonly=True)
    typ, data = m.uid("FETCH", str(uid), "(BODY.PEEK[])")
    assert typ == "OK" and data[0] is not None, (uid, data)
    m.logout()
    return data[0][1]


def uidnext(sb, mailbox="INBOX"):
    m = imap_login(sb)
    typ, data = m.status(mailbox, "(UIDNEXT)")
    m.logout()
    assert typ == "OK", data
    return int(re.search(rb"UIDNEXT (\d+)", data[0]).group(1))


def without_tuid(raw, eol):
    """raw minus the one X-TUID header mbsync adds to what it copies."""
    head, sep, body = raw.partition(eol + eol)
    lines = head.split(eol)
    kept = [l for l in lines if not l.startswith(b"X-TUID: ")]
    assert len(lines) - len(kept) == 1, "not exactly one X-TUID in %r" % head
    return eol.join(kept) + sep + body


def maildir(path):
    """{uid: (file path, set of IMAP flags)} of a Maildir folder, plus the
    files mbsync has not numbered yet under uid None (a list)."""
    out = {None: []}
    for sub in ("new", "cur"):
        for name in os.listdir(os.path.join(path, sub)):
            full = os.path.join(path, sub, name)
            letters = name.split(":2,", 1)[1] if ":2," in name else ""
            flags = {MAILDIR_FLAGS[c] for c in letters if c in MAILDIR_FLAGS}
            m = re.search(r",U=(\d+)", name)
            if m:
                assert int(m.group(1)) not in out, "UID %s twice in %s" % (m.group(1), path)
                out[int(m.group(1))] = (full, flags)
            else:
                out[None].append(full)
    return out


def local_files(local_dir):
    """Every message file of the local store, as relative paths."""
    out = []
    for folder in os.listdir(local_dir):
        for sub in ("cur", "new"):
            out += [os.path.join(folder, sub, name)
                    for name in os.listdir(os.path.join(local_dir, folder, sub))]
    return sorted(out)


def set_local_flags(path, flags):
    """Renames a Maildir file into cur/ with exactly these flags."""
    base = os.path.basename(path).split(":2,", 1)[0]
    letters = "".join(sorted(IMAP_FLAGS[f] for f in flags))
    folder = os.path.dirname(os.path.dirname(path))
    os.rename(path, os.path.join(folder, "cur", base + ":2," + letters))


def write_mbsyncrc(sb, root):
    local = os.path.join(root, "mail")
    os.makedirs(local, exist_ok=True)
    rc = os.path.join(root, "mbsyncrc")
    with open(rc, "w") as f:
        f.write("IMAPAccount petrel\n"
                "Host 127.0.0.1\n"
                "Port %d\n"
                "User %s\n"
                "Pass %s\n"
                "SSLType IMAPS\n"
                "CertificateFile %s\n"
                "Timeout 20\n"
                "\n"
                "IMAPStore remote\n"
                "Account petrel\n"
                "\n"
                "MaildirStore local\n"
                "Path %s/\n"
                "Inbox %s/INBOX\n"
                "SubFolders Verbatim\n"
                "\n"
                "Channel petrel\n"
                "Far :remote:\n"
                "Near :local:\n"
                "Patterns *\n"
                "Sync All\n"
                "Create Both\n"
                "Expunge Both\n"
                "SyncState *\n"
                % (sb.ports["imaps"], USER, PASSWORD, tls_cert(sb), local, local))
    return rc, local


def tls_cert(sb):
    with open(sb.conf) as f:
        m = re.search(r"^cert_file\s*=\s*(\S+)", f.read(), re.M)
    assert m, "no [tls] cert_file in %s" % sb.conf
    return m.group(1)


COUNTERS = re.compile(r"C: (\d+)/(\d+)\s+B: (\d+)/(\d+)\s+"
                      r"F: \+(\d+)/(\d+) \*(\d+)/(\d+) #(\d+)/(\d+)\s+"
                      r"N: \+(\d+)/(\d+) \*(\d+)/(\d+) #(\d+)/(\d+)")


def run_mbsync(rc, home, timeout=40.0):
    """Runs mbsync on a pty (so it prints its counters); returns the final
    counters as {"far": (added, flagged, trashed), "near": (...)}, and the output."""
    argv = [require("mbsync"), "-c", rc, "petrel"]
    master, slave = os.openpty()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                            env=dict(os.environ, HOME=home), cwd=home)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            assert left > 0, "mbsync still running after %.0fs:\n%s" % (
                timeout, out.decode("utf-8", "replace"))
            ready, _, _ = select.select([master], [], [], min(left, 1.0))
            if not ready:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the last writer is gone
                break
            if not chunk:
                break
            out += chunk
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    text = out.decode("utf-8", "replace")
    assert proc.returncode == 0, "mbsync exited %s:\n%s" % (proc.returncode, text)
    found = COUNTERS.findall(text)
    assert found, "no progress counters in mbsync's output:\n%s" % text
    n = [int(x) for x in found[-1]]
    # Each counter is done/total; a finished run has done == total.
    assert all(n[k] == n[k + 1] for k in range(0, 16, 2)), "unfinished counters:\n%s" % text
    return {"far": (n[4], n[6], n[8]), "near": (n[10], n[12], n[14])}, text


def check_agree(sb, local_dir, expected):
    """Server INBOX, local INBOX and expected {uid: flags} all agree."""
    local = maildir(os.path.join(local_dir, "INBOX"))
    assert local.pop(None) == [], "local messages without a UID"
    local_flags = {uid: flags for uid, (_, flags) in local.items()}
    remote = server_flags(sb)
    assert set(remote) == set(expected), "server UIDs: extra %s, missing %s" % (
        sorted(set(remote) - set(expected))[:20], sorted(set(expected) - set(remote))[:20])
    assert set(local_flags) == set(expected), "local UIDs: extra %s, missing %s" % (
        sorted(set(local_flags) - set(expected))[:20],
        sorted(set(expected) - set(local_flags))[:20])
    bad = [(uid, expected[uid], remote[uid], local_flags[uid]) for uid in sorted(expected)
           if not expected[uid] == remote[uid] == local_flags[uid]]
    assert not bad, "(uid, expected, server, local) flags differ: %s" % bad[:20]
    return local


def test_mbsync_two_way_sync(make_sandbox, tmp_path):
    require("mbsync")
    sb = make_sandbox().start("imapd")
    sent = fill_inbox(sb, MESSAGES)
    assert sorted(sent) == list(range(1, MESSAGES + 1))
    home = str(tmp_path / "home")
    os.makedirs(home)
    rc, local_dir = write_mbsyncrc(sb, str(tmp_path))
    inbox = os.path.join(local_dir, "INBOX")

    # 1. Everything comes down, byte for byte (LF line ends, plus X-TUID).
    counters, text = run_mbsync(rc, home)
    assert counters["near"][0] == MESSAGES and counters["far"] == (0, 0, 0), text
    assert sorted(os.listdir(local_dir)) == ["Archive", "Drafts", "INBOX", "Junk", "Sent",
                                             "Trash"]
    expected = {uid: set(flags) for uid, (_, flags) in sent.items()}
    local = check_agree(sb, local_dir, expected)
    for uid, (raw, _) in sent.items():
        with open(local[uid][0], "rb") as f:
            got = f.read()
        assert without_tuid(got, b"\n") == raw.replace(b"\r\n", b"\n"), \
            "message %d differs:\n%r\n%r" % (uid, got[:300], raw[:300])

    # 2. Changes on both sides, on disjoint sets of messages.
    for uid in range(100, 120):                         # local: read and flagged
        expected[uid] |= {"\\Seen", "\\Flagged"}
        set_local_flags(local[uid][0], expected[uid])
    for uid in [u for u in range(200, 300) if "\\Seen" in expected[u]]:  # local: unread
        expected[uid].discard("\\Seen")
        set_local_flags(local[uid][0], expected[uid])
    for uid in range(300, 310):                         # local: trashed
        set_local_flags(local[uid][0], expected.pop(uid) | {"\\Deleted"})
    body = (b"From: Me <demo@example.test>\n"
            b"To: friend@example.test\n"
            b"Subject: written locally\n"
            b"Message-ID: <local-1@example.test>\n"
            b"\n"
            b"Composed offline, uploaded by mbsync.\n")
    with open(os.path.join(inbox, "new", "1700000000.local1.petrel-test"), "wb") as f:
        f.write(body)
    folder = os.path.join(local_dir, "Projects")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(folder, sub))
    with open(os.path.join(folder, "cur", "1700000001.local2.petrel-test:2,S"), "wb") as f:
        f.write(body.replace(b"local-1", b"local-2"))

    m = imap_login(sb)
    m.select("INBOX")
    assert m.uid("STORE", "400:419", "+FLAGS", "(\\Flagged \\Answered)")[0] == "OK"
    for uid in range(400, 420):
        expected[uid] |= {"\\Flagged", "\\Answered"}
    unseen = [u for u in range(500, 600) if "\\Seen" in expected[u]]
    assert m.uid("STORE", ",".join(map(str, unseen)), "-FLAGS", "(\\Seen)")[0] == "OK"
    for uid in unseen:
        expected[uid].discard("\\Seen")
    assert m.uid("STORE", "600:609", "+FLAGS", "(\\Deleted)")[0] == "OK"
    assert m.expunge()[0] == "OK"
    assert m.uid("STORE", "700:709", "+FLAGS", "(\\Deleted)")[0] == "OK"  # left for mbsync
    m.logout()
    for uid in list(range(600, 610)) + list(range(700, 710)):
        del expected[uid]

    counters, text = run_mbsync(rc, home)
    assert counters["far"][0] == 2 and counters["near"][0] == 0, text
    expected[MESSAGES + 1] = set()
    local = check_agree(sb, local_dir, expected)
    uploaded = server_message(sb, MESSAGES + 1)
    assert without_tuid(uploaded, b"\r\n") == body.replace(b"\n", b"\r\n"), uploaded
    with open(local[MESSAGES + 1][0], "rb") as f:
        assert f.read() == body, "mbsync changed the local original"
    projects = server_flags(sb, "Projects")
    assert list(projects.values()) == [{"\\Seen"}], projects
    assert without_tuid(server_message(sb, min(projects), "Projects"), b"\r\n") == \
        body.replace(b"local-1", b"local-2").replace(b"\n", b"\r\n")

    # 3. Nothing left to do: no transfers, no flag changes, nothing appended.
    before = (uidnext(sb), uidnext(sb, "Projects"), local_files(local_dir))
    counters, text = run_mbsync(rc, home)
    assert counters == {"far": (0, 0, 0), "near": (0, 0, 0)}, text
    after = (uidnext(sb), uidnext(sb, "Projects"), local_files(local_dir))
    assert before[:2] == after[:2], "UIDNEXT moved: %s -> %s" % (before[:2], after[:2])
    assert before[2] == after[2], "local files changed: -%s +%s" % (
        sorted(set(before[2]) - set(after[2])), sorted(set(after[2]) - set(before[2])))
    check_agree(sb, local_dir, expected)


# ---------------------------------------------------------------- mutt

MUTT_MESSAGES = [
    (b"From: Ann Example <ann@example.test>\r\n"
     b"To: demo@example.test\r\n"
     b"Subject: Penguin census results\r\n"
     b"Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
     b"Message-ID: <mutt-1@example.test>\r\n"
     b"\r\n"
     b"The colony counted 4711 emperor penguins this year.\r\n"),
    (b"From: Bob <bob@example.test>\r\n"
     b"To: demo@example.test\r\n"
     b"Subject: Albatross sighting\r\n"
     b"Date: Tue, 8 Feb 1994 10:00:00 +0000\r\n"
     b"Message-ID: <mutt-2@example.test>\r\n"
     b"MIME-Version: 1.0\r\n"
     b"Content-Type: multipart/alternative; boundary=\"XX\"\r\n"
     b"\r\n"
     b"--XX\r\n"
     b"Content-Type: text/plain; charset=utf-8\r\n"
     b"Content-Transfer-Encoding: 8bit\r\n"
     b"\r\n"
     b"A wandering albatross flew past the Gr\xc3\xbcnberg lighthouse.\r\n"
     b"--XX\r\n"
     b"Content-Type: text/html\r\n"
     b"\r\n"
     b"<p>html part</p>\r\n"
     b"--XX--\r\n"),
    (b"From: Carol <carol@example.test>\r\n"
     b"To: demo@example.test\r\n"
     b"Subject: Puffin photos\r\n"
     b"Date: Wed, 9 Feb 1994 08:30:00 +0100\r\n"
     b"Message-ID: <mutt-3@example.test>\r\n"
     b"\r\n"
     b"Photos attached next time.\r\n"),
]


class Tmux:
    """A private tmux server (own TMUX_TMPDIR and HOME) with one session."""

    def __init__(self, home, width=120, height=40):
        self.env = dict(os.environ, HOME=home, TMUX_TMPDIR=home, TERM="xterm-256color",
                        LANG="C.UTF-8", LC_ALL="C.UTF-8")
        self.env.pop("TMUX", None)
        self.size = (width, height)

    def tmux(self, *args, check=True):
        out = subprocess.run([require("tmux")] + list(args), env=self.env,
                             capture_output=True, text=True, timeout=10)
        if check:
            assert out.returncode == 0, "tmux %s: %s" % (" ".join(args), out.stderr)
        return out

    def start(self, command):
        self.tmux("new-session", "-d", "-s", "t", "-x", str(self.size[0]),
                  "-y", str(self.size[1]), command)

    def screen(self):
        out = self.tmux("capture-pane", "-p", "-t", "t", check=False)
        return out.stdout if out.returncode == 0 else "(no pane: %s)" % out.stderr.strip()

    def alive(self):
        return self.tmux("has-session", "-t", "t", check=False).returncode == 0

    def keys(self, *keys):
        self.tmux("send-keys", "-t", "t", *keys)

    def wait_for(self, what, timeout=WAIT):
        """Polls the screen until it contains every string in what."""
        what = [what] if isinstance(what, str) else what
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if all(w in screen for w in what):
                return screen
            assert time.monotonic() < deadline, "waited %.0fs for %r; screen:\n%s" % (
                timeout, what, screen)
            time.sleep(0.2)

    def wait_gone(self, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while self.alive():
            assert time.monotonic() < deadline, "still running after %.0fs; screen:\n%s" % (
                timeout, self.screen())
            time.sleep(0.2)

    def kill(self):
        self.tmux("kill-server", check=False)


LATE = (b"From: Dave <dave@example.test>\r\n"
        b"To: demo@example.test\r\n"
        b"Subject: Late arrival about gannets\r\n"
        b"Message-ID: <mutt-4@example.test>\r\n"
        b"\r\n"
        b"Delivered while mutt was idling.\r\n")


def deliver(sb, body):
    s = smtplib.LMTP("127.0.0.1", sb.ports["lmtp"])
    s.ehlo("mta.example.test")
    assert s.sendmail("sender@example.test", [USER], body) == {}
    s.quit()


def write_muttrc(sb, home):
    path = os.path.join(home, "muttrc")
    with open(path, "w") as f:
        f.write('set imap_user = "%s"\n'
                'set imap_pass = "%s"\n'
                'set folder = "imaps://127.0.0.1:%d/"\n'
                'set spoolfile = "+INBOX"\n'
                'set certificate_file = "%s"\n'
                'set ssl_starttls = no\n'
                'set header_cache = ""\n'
                'set message_cachedir = ""\n'
                # IDLE, re-entered every second, brings new mail in.
                'set imap_idle = yes\n'
                'set timeout = 1\n'
                'set mail_check = 1\n'
                'set sort = mailbox-order\n'
                'set mark_old = no\n'
                'set move = no\n'
                'set delete = yes\n'
                'set quit = ask-yes\n'
                'set wait_key = no\n'
                'set sleep_time = 0\n'
                'set pager_stop\n'
                % (USER, PASSWORD, sb.ports["imaps"], tls_cert(sb)))
    return path


def test_mutt_reads_flags_deletes_and_quits(make_sandbox, tmp_path):
    mutt = require("mutt")
    require("tmux")
    sb = make_sandbox().start("imapd", "lmtpd")
    for msg in MUTT_MESSAGES:
        deliver(sb, msg)
    home = str(tmp_path / "home")
    os.makedirs(home)
    muttrc = write_muttrc(sb, home)
    tmux = Tmux(home)
    try:
        tmux.start("%s -n -F %s" % (mutt, muttrc))
        tmux.wait_for(["Penguin census results", "Albatross sighting", "Puffin photos",
                       "Msgs:3 New:3"])
        # Flag the first message, then open the second one.
        tmux.keys("1", "Enter", "F")
        tmux.wait_for("Flag:1")
        tmux.keys("2", "Enter", "Enter")
        tmux.wait_for(["Subject: Albatross sighting",
                       "A wandering albatross flew past the Gr\u00fcnberg lighthouse."])
        tmux.keys("q")
        tmux.wait_for("Msgs:3 New:2")
        # Mail delivered meanwhile shows up while mutt idles.
        deliver(sb, LATE)
        tmux.wait_for(["Late arrival about gannets", "Msgs:4 New:3"])
        tmux.keys("3", "Enter", "d")
        tmux.wait_for("Del:1")
        tmux.keys("q")
        tmux.wait_for("Quit Mutt?")
        tmux.keys("y")
        tmux.wait_gone()
    finally:
        tmux.kill()
    flags = server_flags(sb)
    assert flags == {1: {"\\Flagged"}, 2: {"\\Seen"}, 4: set()}, flags
