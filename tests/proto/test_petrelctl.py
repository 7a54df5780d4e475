"""petrelctl: sandbox create and user administration, checked through what a
user sees (logins) as well as the command's own output."""

import imaplib
import os
import stat
import subprocess

import pytest

from conftest import PETRELCTL, PASSWORD, USER, Sandbox, tls_context


def run(*args, input=None):
    return subprocess.run([PETRELCTL] + list(args), input=input, capture_output=True, text=True,
                          timeout=60)


def login(sb, user, password):
    m = imaplib.IMAP4_SSL("127.0.0.1", sb.ports["imaps"], ssl_context=tls_context())
    try:
        return m.login(user, password)[0]
    except imaplib.IMAP4.error:
        return "NO"
    finally:
        m.shutdown()


def test_sandbox_create_layout(tmp_path):
    d = tmp_path / "sb"
    out = run("sandbox", "create", str(d), "--base-port", "30000")
    assert out.returncode == 0, out.stderr
    assert "imap    127.0.0.1:30143 (STARTTLS)   imaps 127.0.0.1:30993" in out.stdout
    conf = (d / "petrel.conf").read_text()
    for line in ("listen = 127.0.0.1:30143", "listen_tls = 127.0.0.1:30993", "listen = 127.0.0.1:30110",
                 "listen_tls = 127.0.0.1:30995", "listen = 127.0.0.1:30024",
                 "data_dir = %s/data" % d, "allow_plaintext_auth = no"):
        assert line in conf
    assert stat.S_IMODE(os.stat(d / "tls" / "key.pem").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(d / "data" / "sasldb2").st_mode) == 0o600
    cert = subprocess.run(["openssl", "x509", "-in", str(d / "tls" / "cert.pem"), "-noout", "-text"],
                          capture_output=True, text=True, check=True, timeout=30).stdout
    assert "DNS:localhost" in cert and "IP Address:127.0.0.1" in cert
    assert run("-c", str(d / "petrel.conf"), "user", "list").stdout == USER + "\n"
    again = run("sandbox", "create", str(d), "--base-port", "30000")
    assert again.returncode == 1 and "already exists" in again.stderr


@pytest.mark.parametrize("port", ["0", "-5", "65000", "abc", "99999999999999999999"])
def test_sandbox_bad_port(tmp_path, port):
    out = run("sandbox", "create", str(tmp_path / "x"), "--base-port", port)
    assert out.returncode == 2 and "--base-port must be a number" in out.stderr


def test_usage_errors():
    assert run().returncode == 2
    assert run("frobnicate").returncode == 2
    out = run("sandbox", "create")
    assert out.returncode == 2 and "usage: petrelctl [-c CONF] sandbox create DIR --base-port N" in out.stderr
    assert run("--help").returncode == 0


def test_user_lifecycle(make_sandbox):
    sb = make_sandbox().start("imapd")
    assert sb.ctl("user", "add", "Ann@Example.COM", "--password", "s3cret").stdout == "added ann@example.com\n"
    assert sb.ctl("user", "list").stdout == "ann@example.com\n" + USER + "\n"
    assert login(sb, "ann@example.com", "s3cret") == "OK"
    dup = sb.ctl("user", "add", "ann@example.com", "--password", "x", check=False)
    assert dup.returncode == 1 and "already exists" in dup.stderr
    # Password from standard input (not a terminal).
    assert sb.ctl("user", "passwd", "ann@example.com", input="n3w pass\n").returncode == 0
    assert login(sb, "ann@example.com", "s3cret") == "NO"
    assert login(sb, "ann@example.com", "n3w pass") == "OK"
    assert sb.ctl("user", "del", "ann@example.com").stdout == "deleted ann@example.com\n"
    assert login(sb, "ann@example.com", "n3w pass") == "NO"
    assert sb.ctl("user", "list").stdout == USER + "\n"
    gone = sb.ctl("user", "del", "ann@example.com", check=False)
    assert gone.returncode == 1 and "no such user" in gone.stderr
    nouser = sb.ctl("user", "passwd", "nobody@example.com", "--password", "x", check=False)
    assert nouser.returncode == 1 and "no such user" in nouser.stderr


@pytest.mark.parametrize("name", ["noat", "a@b@c", "../x@y", "a/b@c", ".a@b", "a..b@c", "a@-b",
                                  "a@b.", "sp ace@x", "@x", "x@"])
def test_invalid_user_names(make_sandbox, name):
    sb = make_sandbox()
    out = sb.ctl("user", "add", name, "--password", "x", check=False)
    assert out.returncode == 2 and "invalid user name" in out.stderr


def test_empty_password_refused(make_sandbox):
    sb = make_sandbox()
    out = sb.ctl("user", "add", "e@example.test", input="\n", check=False)
    assert out.returncode == 2 and "empty password" in out.stderr
    assert "e@example.test" not in sb.ctl("user", "list").stdout


def test_store_check_and_quota(make_sandbox):
    sb = make_sandbox().start("imapd")
    out = sb.ctl("store", "check")
    assert out.stdout == (USER + "\n  consistent: 0 indexed, 0 expunged, 0 UIDs reassigned, "
                          "0 renamed, 0 folders added\n1 user(s) checked, 0 fix(es)\n")
    # Another tool drops a message straight into the Maildir's cur/.
    cur = os.path.join(sb.dir, "data", "users", USER, "Maildir", "cur")
    with open(os.path.join(cur, "1.elsewhere.host:2,S"), "w") as f:
        f.write("Subject: hello\n\nfrom another tool\n")
    out = sb.ctl("store", "check", USER)
    assert "INBOX: imported 1.elsewhere.host:2,S" in out.stdout
    assert "fixed: 1 indexed" in out.stdout
    assert sb.ctl("store", "check", USER).stdout.endswith("1 user(s) checked, 0 fix(es)\n")
    missing = sb.ctl("store", "check", "nobody@example.test", check=False)
    assert missing.returncode == 1 and "no such user" in missing.stderr

    assert sb.ctl("quota", "get", USER).stdout.startswith("storage 37 of unlimited\nmessages 1 of unlimited")
    sb.ctl("quota", "set", USER, "--storage", "1M", "--messages", "100")
    assert sb.ctl("quota", "get", USER).stdout == ("storage 37 of 1048576 (0.0%)\n"
                                                 "messages 1 of 100 (1.0%)\n")
    sb.ctl("quota", "set", USER)  # back to the defaults: unlimited
    assert "of unlimited" in sb.ctl("quota", "get", USER).stdout
    bad = sb.ctl("quota", "set", USER, "--storage", "lots", check=False)
    assert bad.returncode == 2
