"""Listener kinds, TLS versions, plaintext-auth policy, timeouts after
login, and dropping privileges."""

import imaplib
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time

import pytest

from conftest import PASSWORD, USER, LineClient, set_options, tls_context


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_ipv6_and_ipv4_listeners_together(make_sandbox):
    sb = make_sandbox()
    port = sb.ports["imap"]
    set_options(sb.conf, {("imap", "listen"): "127.0.0.1:%d, [::1]:%d" % (port, port)})
    sb.start("imapd")
    for host in ("127.0.0.1", "::1"):
        c = LineClient(port, host=host)
        assert c.line().startswith("* OK ")
        assert c.cmd("a NOOP") == ["a OK NOOP completed."]
    c.cmd("b LOGIN x y")
    assert "ip=::1" in sb.log("imapd")


def test_tls_minimum_version(make_sandbox):
    sb = make_sandbox({("tls", "min_protocol"): "TLSv1.3"}).start("imapd")
    old = tls_context()
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(ssl.SSLError):
        with socket.create_connection(("127.0.0.1", sb.ports["imaps"]), timeout=10) as s:
            old.wrap_socket(s).recv(100)
    ok = tls_context()
    with socket.create_connection(("127.0.0.1", sb.ports["imaps"]), timeout=10) as s:
        t = ok.wrap_socket(s)
        assert t.version() == "TLSv1.3"
        assert t.recv(100).startswith(b"* OK ")


def test_tls12_is_accepted_by_default(make_sandbox):
    sb = make_sandbox().start("pop3d")
    ctx = tls_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", sb.ports["pop3s"]), timeout=10) as s:
        t = ctx.wrap_socket(s)
        assert t.version() == "TLSv1.2"
        assert t.recv(100) == b"+OK Petrel ready.\r\n"


def s_client_session(port, *options, key_updates=True):
    """Logs in with `openssl s_client`, asks for a KeyUpdate each way
    (s_client's K and k commands, TLS 1.3 only) between commands, and logs
    out."""
    script = ["a LOGIN %s %s\n" % (USER, PASSWORD), "K\n", "b NOOP\n", "k\n", "c NOOP\n",
              "d LOGOUT\n"]
    if not key_updates:
        script = [line for line in script if len(line) > 2]
    p = subprocess.Popen(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-quiet",
                          "-no_ign_eof", *options], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in script:
        p.stdin.write(line)
        p.stdin.flush()
        time.sleep(0.2)
    out, err = p.communicate(timeout=10)
    return [line for line in out.splitlines() if line[:2] in ("a ", "b ", "c ", "d ")], err


@pytest.mark.parametrize("suite", ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                                   "TLS_CHACHA20_POLY1305_SHA256"])
def test_tls13_own_record_layer(make_sandbox, suite):
    """After a TLS 1.3 handshake Petrel's record layer takes over from
    OpenSSL (tls_record.c); KeyUpdate in both directions keeps working."""
    sb = make_sandbox().start("imapd")
    lines, err = s_client_session(sb.ports["imaps"], "-tls1_3", "-ciphersuites", suite)
    assert lines == ["a OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ IDLE UIDPLUS CHILDREN "
                     "SPECIAL-USE] Logged in.", "b OK NOOP completed.",
                     "c OK NOOP completed.", "d OK Logout completed."], err
    assert err.count("KEYUPDATE") == 2
    assert "cipher=%s" % suite in sb.log("imapd")
    assert "records=petrel" in sb.log("imapd")


def test_tls_record_layer_setting(make_sandbox):
    """record_layer = openssl keeps OpenSSL's; TLS 1.2 always does; STARTTLS
    connections are handed over like implicit TLS ones."""
    sb = make_sandbox({("tls", "record_layer"): "openssl"}).start("imapd")
    lines, err = s_client_session(sb.ports["imaps"], "-tls1_3")
    assert lines[-1] == "d OK Logout completed.", err
    assert "records=openssl" in sb.log("imapd") and "records=petrel" not in sb.log("imapd")

    sb = make_sandbox().start("imapd", "pop3d")
    lines, err = s_client_session(sb.ports["imaps"], "-tls1_2", key_updates=False)
    assert lines[-1] == "d OK Logout completed.", err
    assert "version=TLSv1.2" in sb.log("imapd") and "records=openssl" in sb.log("imapd")
    m = imaplib.IMAP4("127.0.0.1", sb.ports["imap"])
    m.starttls(tls_context())
    m.login(USER, PASSWORD)
    m.logout()
    assert "records=petrel" in sb.log("imapd")
    ctx = tls_context()
    with socket.create_connection(("127.0.0.1", sb.ports["pop3s"]), timeout=10) as s:
        t = ctx.wrap_socket(s)
        assert t.recv(100) == b"+OK Petrel ready.\r\n"
        t.sendall(b"USER %s\r\nPASS %s\r\n" % (USER.encode(), PASSWORD.encode()))
        got = b""
        while got.count(b"\r\n") < 2:
            got += t.recv(100)
        assert got.endswith(b"+OK Logged in.\r\n")
    assert "records=petrel" in sb.log("pop3d")


def test_allow_plaintext_auth(make_sandbox):
    sb = make_sandbox({("auth", "allow_plaintext_auth"): "yes"}).start("imapd", "pop3d")
    m = imaplib.IMAP4("127.0.0.1", sb.ports["imap"])
    assert "LOGINDISABLED" not in m.capabilities and "AUTH=PLAIN" in m.capabilities
    assert m.login(USER, PASSWORD)[0] == "OK"
    m.logout()
    c = LineClient(sb.ports["pop3"])
    c.line()
    assert "USER" in c.cmd("CAPA", prefix=".")
    c.cmd("USER " + USER, prefix="+OK")
    assert c.cmd("PASS " + PASSWORD, prefix="") == ["+OK Logged in."]


def test_idle_timeout_after_login(make_sandbox):
    sb = make_sandbox({("imap", "idle_timeout"): "1s", ("pop3", "idle_timeout"): "1s",
                       ("lmtp", "idle_timeout"): "1s"}).start()
    imap = LineClient(sb.ports["imaps"], tls=True)
    imap.line()
    imap.cmd("a LOGIN %s %s" % (USER, PASSWORD))
    # Activity resets the idle timer...
    for _ in range(3):
        time.sleep(0.5)
        assert imap.cmd("b NOOP") == ["b OK NOOP completed."]
    # ...silence ends the session.
    t = time.monotonic()
    assert imap.expect_closed() == "* BYE Autologout; idle for too long.\r\n"
    assert time.monotonic() - t < 4
    pop3 = LineClient(sb.ports["pop3s"], tls=True)
    pop3.line()
    pop3.cmd("USER " + USER, prefix="+OK")
    pop3.cmd("PASS " + PASSWORD, prefix="+OK")
    assert pop3.expect_closed() == "-ERR Disconnected for inactivity.\r\n"
    lmtp = LineClient(sb.ports["lmtp"])
    lmtp.line()
    assert lmtp.expect_closed() == "421 4.4.2 localhost Timeout, closing connection.\r\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users")
def test_drops_privileges(tmp_path):
    from conftest import Sandbox
    # pytest's own temp dirs are private to root; this one must be
    # traversable by the account we switch to.
    root = tempfile.mkdtemp(prefix="petrel-priv-")
    os.chmod(root, 0o755)
    sb = Sandbox(os.path.join(root, "sb"))
    try:
        nobody = pwd.getpwnam("nobody")
        data = os.path.join(sb.dir, "data")
        subprocess.run(["chown", "-R", "nobody:%d" % nobody.pw_gid, data], check=True, timeout=30)
        set_options(sb.conf, {("server", "user"): "nobody"})
        sb.start("imapd")
        # The sockets listen before the switch (privileged ports), so the
        # port answering does not mean the switch happened yet; queued
        # connections are only served by the loop, after it.
        deadline = time.monotonic() + 10
        while True:
            with open("/proc/%d/status" % sb.pid("imapd")) as f:
                uids = [line.split()[1:] for line in f if line.startswith("Uid:")][0]
            if uids == [str(nobody.pw_uid)] * 4 or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert uids == [str(nobody.pw_uid)] * 4
        m = imaplib.IMAP4_SSL("127.0.0.1", sb.ports["imaps"], ssl_context=tls_context())
        assert m.login(USER, PASSWORD)[0] == "OK"
        m.logout()
        sb.stop_all()
    finally:
        for name in list(sb.procs):
            sb.procs.pop(name).kill()
        shutil.rmtree(root, ignore_errors=True)
