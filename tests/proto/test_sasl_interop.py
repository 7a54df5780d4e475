"""SASL against an independent client: Cyrus SASL's client library
(tests/tools/sasl_client.c) authenticates to our IMAP and POP3 servers with
every configured mechanism, with and without an initial response."""

import os
import subprocess

import pytest

from conftest import BUILD_DIR, PASSWORD, USER, LineClient

TOOL = os.path.join(BUILD_DIR, "tests", "tools", "petrel-test-sasl-client")
MECHS = ["SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", "LOGIN"]


class SaslTool:
    def __init__(self, mech, user, password, service):
        self.proc = subprocess.Popen([TOOL, mech, user, password, service],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)

    def read(self):
        line = self.proc.stdout.readline().rstrip("\n")
        assert line, "sasl tool: %s" % self.proc.stderr.read()
        return line

    def write(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def finish(self):
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        return self.proc.wait(10)


def run_exchange(client, tool, command, ir_on_line, prefix, ok_prefix, fail_prefix):
    """Drives one AUTHENTICATE/AUTH exchange; returns (final line, tool status)."""
    first = tool.read()
    if first.startswith("IR ") and ir_on_line:
        client.send("%s %s\r\n" % (command, first[3:]))
        pending_ir = None
    else:
        client.send(command + "\r\n")
        pending_ir = first[3:] if first.startswith("IR ") else None
    while True:
        line = client.line()
        if line.startswith("+ ") or line == "+":
            challenge = line[2:] if line.startswith("+ ") else ""
            if pending_ir is not None and challenge == "":
                client.send(pending_ir + "\r\n")
                pending_ir = None
                continue
            tool.write(challenge or "=")
            resp = tool.read()
            assert resp.startswith("R "), resp
            client.send(("" if resp == "R =" else resp[2:]) + "\r\n")
            continue
        if line.startswith(ok_prefix):
            tool.write("OK")
            assert tool.read() == "DONE"
            return line, tool.finish()
        assert line.startswith(fail_prefix), line
        return line, tool.finish()


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    from conftest import Sandbox
    sb = Sandbox(tmp_path_factory.mktemp("sasl"))
    sb.start("imapd", "pop3d")
    yield sb
    sb.stop_all()


@pytest.mark.parametrize("mech", MECHS)
@pytest.mark.parametrize("sasl_ir", [True, False])
def test_imap_authenticate(servers, mech, sasl_ir):
    c = LineClient(servers.ports["imaps"], tls=True)
    c.line()
    tool = SaslTool(mech, USER, PASSWORD, "imap")
    line, status = run_exchange(c, tool, "a AUTHENTICATE " + mech, sasl_ir, "a ", "a OK", "a NO")
    assert line.startswith("a OK [CAPABILITY"), line
    assert status == 0
    assert c.cmd("b NOOP") == ["b OK NOOP completed."]


@pytest.mark.parametrize("mech", MECHS)
def test_imap_authenticate_after_starttls(servers, mech):
    c = LineClient(servers.ports["imap"])
    c.line()
    assert c.cmd("s STARTTLS") == ["s OK Begin TLS negotiation now."]
    c.starttls()
    tool = SaslTool(mech, USER, PASSWORD, "imap")
    line, status = run_exchange(c, tool, "a AUTHENTICATE " + mech, True, "a ", "a OK", "a NO")
    assert line.startswith("a OK"), line
    assert status == 0


@pytest.mark.parametrize("mech", ["SCRAM-SHA-256", "CRAM-MD5", "PLAIN"])
def test_imap_wrong_password_fails(servers, mech):
    c = LineClient(servers.ports["imaps"], tls=True)
    c.line()
    tool = SaslTool(mech, USER, "not-the-password", "imap")
    line, status = run_exchange(c, tool, "a AUTHENTICATE " + mech, True, "a ", "a OK", "a NO")
    assert line == "a NO [AUTHENTICATIONFAILED] Authentication failed."
    assert status != 0


def test_scram_without_tls_is_allowed(servers):
    """SCRAM never exposes the password, so it is offered on the plain port."""
    c = LineClient(servers.ports["imap"])
    assert "AUTH=SCRAM-SHA-256" in c.line()
    tool = SaslTool("SCRAM-SHA-256", USER, PASSWORD, "imap")
    line, status = run_exchange(c, tool, "a AUTHENTICATE SCRAM-SHA-256", True, "a ", "a OK", "a NO")
    assert line.startswith("a OK") and status == 0


@pytest.mark.parametrize("mech", MECHS)
@pytest.mark.parametrize("with_ir", [True, False])
def test_pop3_auth(servers, mech, with_ir):
    c = LineClient(servers.ports["pop3s"], tls=True)
    c.line()
    tool = SaslTool(mech, USER, PASSWORD, "pop")
    line, status = run_exchange(c, tool, "AUTH " + mech, with_ir, "", "+OK", "-ERR")
    assert line == "+OK Logged in.", line
    assert status == 0


def test_pop3_wrong_password_fails(servers):
    c = LineClient(servers.ports["pop3s"], tls=True)
    c.line()
    tool = SaslTool("SCRAM-SHA-256", USER, "nope", "pop")
    line, status = run_exchange(c, tool, "AUTH SCRAM-SHA-256", True, "", "+OK", "-ERR")
    assert line == "-ERR [AUTH] Authentication failed."
    assert status != 0
