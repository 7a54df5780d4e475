"""A real Postfix (Debian's) hands mail to petrel-lmtpd over LMTP.

The test builds a private Postfix instance in a temp dir: its own config
directory, queue and data directories, one smtpd on a free loopback port,
`virtual_transport = lmtp:inet:127.0.0.1:<lmtpd port>` with XFORWARD.
Mail submitted with Postfix's sendmail and over SMTP from 127.0.0.2 must
arrive in the store; for the SMTP one, Postfix passes the client address
with XFORWARD and our SPF verdict must be about 127.0.0.2.
"""

import os
import shutil
import smtplib
import subprocess
import time

import pytest

from conftest import USER, free_base_port
from dnsserver import DnsServer
from lmtp_helpers import cat, header_fields, listing, lmtp_overrides, verdicts

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
SENDMAIL = "/usr/sbin/sendmail"

pytestmark = pytest.mark.skipif(
    not os.path.exists(POSTFIX) or os.geteuid() != 0,
    reason="needs Debian's postfix package and root (Postfix drops privileges itself)")

MASTER_CF = """\
127.0.0.1:{smtp_port} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n - 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
lmtp      unix  - - n - - lmtp
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {dir}/queue
data_directory = {dir}/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.postfix.test
mydomain = postfix.test
myorigin = postfix.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
virtual_mailbox_domains = example.test
virtual_transport = lmtp:inet:127.0.0.1:{lmtp_port}
lmtp_send_xforward_command = yes
alias_maps =
alias_database =
maillog_file_prefixes = {dir}
maillog_file = {dir}/maillog
disable_dns_lookups = yes
smtp_dns_support_level = disabled
smtpd_helo_required = no
smtpd_peername_lookup = no
biff = no
"""


@pytest.fixture
def postfix(make_sandbox, tmp_path):
    dns = DnsServer({"sender.test": [("TXT", "v=spf1 ip4:127.0.0.2 -all")]})
    sb = make_sandbox(lmtp_overrides(dns)).start("lmtpd")
    # Postfix's own processes run as "postfix" and must reach these
    # directories, which pytest's private tmp_path does not allow.
    import pathlib
    import tempfile
    pf = pathlib.Path(tempfile.mkdtemp(prefix="petrel-postfix-"))
    os.chmod(pf, 0o755)
    for d in ("conf", "queue", "data"):
        (pf / d).mkdir(parents=True)
    shutil.chown(str(pf / "data"), "postfix")
    smtp_port = free_base_port() + 25
    (pf / "conf" / "main.cf").write_text(MAIN_CF.format(dir=pf, lmtp_port=sb.ports["lmtp"]))
    (pf / "conf" / "master.cf").write_text(MASTER_CF.format(smtp_port=smtp_port))
    conf = str(pf / "conf")
    out = subprocess.run([POSTFIX, "-c", conf, "start"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr + _read(pf / "maillog")
    try:
        yield sb, conf, smtp_port, pf
    finally:
        subprocess.run([POSTFIX, "-c", conf, "stop"], capture_output=True, timeout=60)
        dns.stop()
        shutil.rmtree(pf, ignore_errors=True)


def _read(path):
    try:
        return open(path).read()
    except OSError:
        return ""


def wait_for(sb, count, pf, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = listing(sb)
        if len(got) >= count:
            return got
        time.sleep(0.2)
    raise AssertionError("not delivered; postfix log:\n" + _read(pf / "maillog"))


def test_postfix_sendmail_and_smtp_with_xforward(postfix):
    sb, conf, smtp_port, pf = postfix
    # 1. Submitted with Postfix's sendmail (pickup: no network client, so
    #    Postfix sends no XFORWARD and SPF is judged on the LMTP peer).
    msg = "From: Ann <ann@sender.test>\nTo: %s\nSubject: via sendmail\n\nhello\n.dot line\n" % USER
    out = subprocess.run([SENDMAIL, "-C", conf, "-f", "ann@sender.test", USER], input=msg,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    (uid, subject), = wait_for(sb, 1, pf)
    assert subject == "via sendmail"
    raw = cat(sb, uid)
    assert raw.endswith(b"\r\n\r\nhello\r\n.dot line\r\n")
    received = header_fields(raw, "Received")
    assert received[0].startswith("from mx.postfix.test ([127.0.0.1])")
    assert "by mx.postfix.test (Postfix" in received[1]

    # 2. Over SMTP from 127.0.0.2: Postfix passes ADDR=127.0.0.2 with XFORWARD.
    s = smtplib.SMTP("127.0.0.1", smtp_port, source_address=("127.0.0.2", 0), timeout=30)
    s.ehlo("client.sender.test")
    s.sendmail("ann@sender.test", [USER],
               "From: ann@sender.test\r\nTo: %s\r\nSubject: via smtp\r\n\r\nhi\r\n" % USER)
    s.quit()
    rows = wait_for(sb, 2, pf)
    uid = [u for u, subj in rows if subj == "via smtp"][0]
    v, ar = verdicts(cat(sb, uid))
    assert v["spf"] == "pass", ar
    assert "spf=pass (127.0.0.2: " in ar and "smtp.mailfrom=ann@sender.test" in ar, ar
    log = _read(pf / "maillog")
    assert "status=sent (250 2.0.0 <%s> Saved" % USER in log
