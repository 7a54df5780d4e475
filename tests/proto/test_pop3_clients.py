"""A real POP3 client against petrel-pop3d: fetchmail (Debian's package)
downloads 500 messages over STLS and over 995, delivering each through an
MDA script into a temp dir. Once it keeps them on the server (a second run
with UIDL fetches nothing new), once it deletes them (IMAP then shows an
empty INBOX). The bytes the MDA gets must be the stored messages (fetchmail
hands MDAs LF line ends and no dot-stuffing)."""

import os
import pwd
import shutil
import subprocess

import pytest

from conftest import PASSWORD, USER
from pop3_helpers import deliver, imap_count, sandbox, stored, wait_for

COUNT = 500
TIMEOUT = 300


def require(tool):
    """A missing client fails the test rather than skipping it."""
    path = shutil.which(tool)
    assert path, "%s is not installed (scripts/deps.sh installs it)" % tool
    return path


def corpus():
    """500 distinct messages: plain, with dot lines, longer ones."""
    out = []
    for i in range(COUNT):
        body = b"Message %d.\r\n" % i
        if i % 7 == 0:
            body += b".leading dot\r\n..two\r\n.\r\nafter\r\n"
        if i % 50 == 0:
            body += b"".join(b"line %05d of a longer message\r\n" % k for k in range(2000))
        out.append(b"From: s%d@example.test\r\nTo: %s\r\nSubject: fetch %d\r\n"
                   b"Message-ID: <f%d@example.test>\r\n\r\n" % (i, USER.encode(), i, i) + body)
    return out


class Fetchmail:
    def __init__(self, sb, root, transport):
        self.home = str(root)
        port = sb.ports["pop3s"] if transport == "pop3s" else sb.ports["pop3"]
        # "ssl": implicit TLS; "sslproto" alone: STLS, required. The
        # sandbox's certificate is self-signed: no verification.
        tls = "ssl" if transport == "pop3s" else "sslproto 'TLS1.2+'"
        self.rc = os.path.join(self.home, "fetchmailrc")
        with open(self.rc, "w") as f:
            f.write('poll 127.0.0.1 protocol pop3 port %d timeout 60\n'
                    '  user "%s" password "%s" %s no sslcertck\n' % (port, USER, PASSWORD, tls))
        os.chmod(self.rc, 0o600)
        self.mda = os.path.join(self.home, "mda.sh")
        self.env = dict(os.environ, HOME=self.home, FETCHMAILHOME=self.home, CI="true",
                        FETCHMAILUSER=pwd.getpwuid(os.getuid()).pw_name)

    def run(self, out_dir, keep):
        os.makedirs(out_dir, exist_ok=True)
        with open(self.mda, "w") as f:
            f.write('#!/bin/sh\nexec cat > "$(mktemp -p %s msg.XXXXXX)"\n' % out_dir)
        os.chmod(self.mda, 0o755)
        cmd = [require("fetchmail"), "-f", self.rc, "--pidfile", os.path.join(self.home, "pid"),
               "-i", os.path.join(self.home, "fetchids"), "--nosyslog", "--nodetach", "-v",
               "--invisible", "--norewrite", "--mda", self.mda]
        cmd += ["--keep", "--uidl"] if keep else ["--nokeep", "--all"]
        r = subprocess.run(cmd, env=self.env, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=TIMEOUT)
        return r


def received(out_dir):
    return sorted(open(os.path.join(out_dir, n), "rb").read() for n in os.listdir(out_dir))


@pytest.mark.parametrize("transport", ["stls", "pop3s"])
def test_fetchmail_keep_then_delete(make_sandbox, tmp_path, transport):
    sb = sandbox(make_sandbox)
    deliver(sb, corpus())
    want = sorted(m.replace(b"\r\n", b"\n") for m in stored(sb))
    assert len(want) == COUNT
    fm = Fetchmail(sb, tmp_path, transport)

    r = fm.run(str(tmp_path / "keep1"), keep=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert ("POP3> STLS" in r.stdout) == (transport == "stls")
    assert "POP3< +OK Begin TLS negotiation now." in r.stdout or transport == "pop3s"
    assert received(str(tmp_path / "keep1")) == want
    assert imap_count(sb) == COUNT
    # UIDL: the second run knows every message and fetches none
    # (fetchmail's status 1: no mail).
    r = fm.run(str(tmp_path / "keep2"), keep=True)
    assert r.returncode == 1, r.stdout[-3000:] + r.stderr[-3000:]
    assert "%d messages (%d seen)" % (COUNT, COUNT) in r.stdout
    assert "POP3> RETR" not in r.stdout and "POP3> TOP" not in r.stdout
    assert os.listdir(str(tmp_path / "keep2")) == []
    assert imap_count(sb) == COUNT

    r = fm.run(str(tmp_path / "delete"), keep=False)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert received(str(tmp_path / "delete")) == want
    assert "POP3> RETR" in r.stdout and "POP3> DELE" in r.stdout
    assert imap_count(sb) == 0
    # The files go right after QUIT's answer (store/graveyard.c).
    assert wait_for(lambda: stored(sb) == [])
