"""Daemon lifecycle: graceful shutdown, certificate reload, configuration
errors (file, line, option; exit status 2), detaching without -f."""

import os
import signal
import socket
import ssl
import subprocess
import time

import pytest

from conftest import DAEMONS, PETRELCTL, PASSWORD, USER, LineClient, set_options, tls_context


def test_sigterm_says_goodbye_on_every_protocol(make_sandbox):
    sb = make_sandbox().start()
    imap = LineClient(sb.ports["imaps"], tls=True)
    imap.line()
    imap.cmd("a LOGIN %s %s" % (USER, PASSWORD))
    pop3 = LineClient(sb.ports["pop3"])
    pop3.line()
    lmtp = LineClient(sb.ports["lmtp"])
    lmtp.line()
    t = time.monotonic()
    for name in ("imapd", "pop3d", "lmtpd"):
        sb.procs[name].send_signal(signal.SIGTERM)
    assert imap.expect_closed() == "* BYE Server shutting down.\r\n"
    assert pop3.expect_closed() == "-ERR [SYS/TEMP] Server shutting down.\r\n"
    assert lmtp.expect_closed() == "421 4.3.2 localhost Server shutting down.\r\n"
    for name in ("imapd", "pop3d", "lmtpd"):
        assert sb.procs[name].wait(10) == 0
    assert time.monotonic() - t < 5
    sb.stop_all()  # checks exit status and sanitizer output


def cert_serial(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with tls_context().wrap_socket(s) as t:
            der = t.getpeercert(binary_form=True)
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-serial"], input=der,
                         capture_output=True, check=True, timeout=30)
    return out.stdout.strip()


def test_sighup_reloads_certificate(make_sandbox):
    sb = make_sandbox().start("imapd")
    before = cert_serial(sb.ports["imaps"])
    old = LineClient(sb.ports["imaps"], tls=True)
    old.line()
    tls = os.path.join(sb.dir, "tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-keyout", os.path.join(tls, "key.pem"), "-out", os.path.join(tls, "cert.pem")],
                   check=True, capture_output=True, timeout=30)
    sb.procs["imapd"].send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while cert_serial(sb.ports["imaps"]) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cert_serial(sb.ports["imaps"]) != before
    # Connections made before the reload carry on.
    assert old.cmd("a NOOP") == ["a OK NOOP completed."]
    assert "event=reload tls=reloaded" in sb.log("imapd")


def test_sighup_with_broken_certificate_keeps_old_one(make_sandbox):
    sb = make_sandbox().start("imapd")
    before = cert_serial(sb.ports["imaps"])
    with open(os.path.join(sb.dir, "tls", "cert.pem"), "w") as f:
        f.write("not a certificate\n")
    sb.procs["imapd"].send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while "reload_failed" not in sb.log("imapd") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "event=reload_failed" in sb.log("imapd")
    assert cert_serial(sb.ports["imaps"]) == before


def run_daemon(conf, daemon="imapd"):
    return subprocess.run([DAEMONS[daemon], "-c", conf, "-f"], capture_output=True, text=True,
                          timeout=30)


@pytest.mark.parametrize("lines,message", [
    (["[imap]", "bogus = 1"], ":2: [imap] bogus: unknown option"),
    (["[nosuch]", "x = 1"], ":2: [nosuch]: unknown section"),
    (["top = 1"], ":1: top: option outside of any [section]"),
    (["[limits]", "max_connections = ten"], ":2: [limits] max_connections: 'ten' is not a number"),
    (["[limits]", "max_connections = 0"], ":2: [limits] max_connections: '0' is out of range"),
    (["[limits]", "max_connections = 5", "", "max_connections = 6"],
     ":4: [limits] max_connections: set twice"),
    (["[limits]", "login_timeout = 5 parsecs"], ":2: [limits] login_timeout: '5 parsecs' is not a duration"),
    (["[limits]", "output_buffer_size = 1T"], ":2: [limits] output_buffer_size: '1T' is not a size"),
    (["[auth]", "allow_plaintext_auth = perhaps"], ":2: [auth] allow_plaintext_auth: 'perhaps' is not yes or no"),
    (["[imap]", "listen = 127.0.0.1:99999"], ":2: [imap] listen: '127.0.0.1:99999'"),
    (["[server]", "haproxy_trusted_networks = 10.0.0.0/99"], ":2: [server] haproxy_trusted_networks:"),
    (["[tls]", "min_protocol = SSLv3"], ":2: [tls] min_protocol: 'SSLv3' is not one of: TLSv1.2 TLSv1.3"),
    (["[server]", "x" * 300 + " = 1"], ":2: line longer than"),
    (["this is not ini"], ":1: syntax error"),
])
def test_config_errors_name_file_line_and_option(tmp_path, lines, message):
    conf = str(tmp_path / "bad.conf")
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    for daemon in ("imapd", "pop3d", "lmtpd"):
        out = run_daemon(conf, daemon)
        assert out.returncode == 2, out.stderr
        assert conf + message in out.stderr, out.stderr
    out = subprocess.run([PETRELCTL, "-c", conf, "user", "list"], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 2 and conf + message in out.stderr, out.stderr


def test_startup_errors(make_sandbox, tmp_path):
    sb = make_sandbox()
    out = run_daemon(str(tmp_path / "missing.conf"))
    assert out.returncode == 2 and "missing.conf: No such file or directory" in out.stderr
    # TLS listener without a certificate.
    set_options(sb.conf, {("tls", "cert_file"): "", ("tls", "key_file"): ""})
    out = run_daemon(sb.conf)
    assert out.returncode == 2 and "[imap] listen_tls needs [tls] cert_file and key_file" in out.stderr
    # Unreadable certificate.
    set_options(sb.conf, {("tls", "cert_file"): "/nonexistent.pem", ("tls", "key_file"): "/nonexistent.pem"})
    out = run_daemon(sb.conf)
    assert out.returncode == 2 and "[tls] cert_file: /nonexistent.pem" in out.stderr


def test_port_in_use(make_sandbox):
    sb = make_sandbox()
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", sb.ports["imap"]))
    blocker.listen()
    out = run_daemon(sb.conf)
    assert out.returncode == 1
    assert "cannot listen on 127.0.0.1:%d: Address already in use" % sb.ports["imap"] in out.stderr
    blocker.close()


def test_detaches_without_f(make_sandbox):
    sb = make_sandbox()
    out = subprocess.run([DAEMONS["pop3d"], "-c", sb.conf], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    pidfile = os.path.join(sb.dir, "run", "petrel-pop3d.pid")
    deadline = time.monotonic() + 5
    while not os.path.exists(pidfile) and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = int(open(pidfile).read())
    try:
        c = LineClient(sb.ports["pop3"])
        assert c.line() == "+OK Petrel ready."
        c.close()
    finally:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("detached daemon did not stop")


def test_usage(tmp_path):
    out = subprocess.run([DAEMONS["imapd"], "-x"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "usage: petrel-imapd [-c CONF] [-f]" in out.stderr
