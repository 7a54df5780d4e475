"""petrelctl inspect: the JSON report on a file and on a stored message,
with the same verdicts lmtpd wrote into Authentication-Results."""

import base64
import hashlib
import json
import os
import subprocess

import dkim

from conftest import PETRELCTL, SOURCE_DIR, USER
from dnsserver import DnsServer
from lmtp_helpers import cat, lmtp_client, lmtp_overrides, transaction, uid_of, verdicts

KEYS = os.path.join(SOURCE_DIR, "tests", "data", "dkim")
ATTACHMENT = bytes(range(256)) * 40


def rsa_record():
    der = subprocess.run(["openssl", "rsa", "-in", os.path.join(KEYS, "rsa2048.pem"), "-pubout",
                          "-outform", "DER"], check=True, capture_output=True).stdout
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


def signed_multipart():
    b64 = base64.encodebytes(ATTACHMENT).replace(b"\n", b"\r\n")
    msg = (b"From: News <news@signer.test>\r\nTo: demo@example.test\r\n"
           b"Subject: =?utf-8?q?R=C3=A9sum=C3=A9?=\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
           b"Received: from relay.signer.test (relay [192.0.2.50]) by mx.signer.test with ESMTP id X1;"
           b" Mon, 23 Nov 2026 10:00:01 +0000\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
           b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello\r\n"
           b"--b1\r\nContent-Type: application/octet-stream; name=\"data.bin\"\r\n"
           b"Content-Disposition: attachment; filename*=utf-8''d%C3%A4ta.bin\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n" + b64 + b"--b1--\r\n")
    rsa = open(os.path.join(KEYS, "rsa2048.pem"), "rb").read()
    return dkim.sign(msg, b"rsa", b"signer.test", rsa, include_headers=[b"from", b"subject"]) + msg


def inspect(sb, *args):
    out = subprocess.run([PETRELCTL, "-c", sb.conf, "inspect"] + list(args), capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_inspect_stored_and_file(make_sandbox, tmp_path):
    dns = DnsServer({"rsa._domainkey.signer.test": [("TXT", rsa_record())],
                     "signer.test": [("TXT", "v=spf1 ip4:192.0.2.50 -all")],
                     "_dmarc.signer.test": [("TXT", "v=DMARC1; p=reject")]})
    try:
        sb = make_sandbox(lmtp_overrides(dns)).start("lmtpd")
        c = lmtp_client(sb)
        msg = signed_multipart()
        _, _, _, finals = transaction(c, "news@signer.test", [USER], msg,
                                      xforward="ADDR=192.0.2.50 HELO=relay.signer.test")
        uid = uid_of(finals[0])
        stored_verdicts, ar = verdicts(cat(sb, uid))
        assert stored_verdicts == {"spf": "pass", "dkim": "pass", "dmarc": "pass"}, ar

        rep = inspect(sb, USER, "INBOX", str(uid), "--dns", dns.address,
                      "--client-ip", "192.0.2.50", "--helo", "relay.signer.test")
        assert rep["stored"] == {"user": USER, "mailbox": "INBOX", "uid": uid}
        assert rep["headers"]["Subject"] == "Résumé"
        assert rep["headers"]["Return-Path"] == "<news@signer.test>"
        # Our Received first (the LMTP hop), then the one from upstream.
        assert rep["received"][0]["by"] == "localhost"
        assert rep["received"][1]["from"] == "relay.signer.test"
        assert rep["received"][1]["with"] == "ESMTP"
        mime = rep["mime"]
        assert mime["type"] == "multipart/mixed"
        text, att = mime["parts"]
        assert text["type"] == "text/plain" and text["charset"] == "utf-8"
        assert att["filename"] == "däta.bin" and att["disposition"] == "attachment"
        assert att["encoding"] == "base64"
        assert att["decoded_size"] == len(ATTACHMENT)
        assert att["sha256"] == hashlib.sha256(ATTACHMENT).hexdigest()
        auth = rep["authentication"]
        # The same verdicts lmtpd stored; DKIM still verifies on the stored
        # copy because our fields sit above the signature.
        assert auth["spf"]["result"] == stored_verdicts["spf"]
        assert [d["result"] for d in auth["dkim"]] == ["pass"]
        assert auth["dkim"][0]["domain"] == "signer.test"
        assert auth["dmarc"]["result"] == "pass" and auth["dmarc"]["policy"] == "reject"

        # The same message as a file with LF line ends, no client address.
        path = tmp_path / "m.eml"
        path.write_bytes(msg.replace(b"\r\n", b"\n"))
        rep = inspect(sb, str(path), "--dns", dns.address)
        assert rep["authentication"]["spf"]["result"] == "not evaluated"
        assert rep["authentication"]["dkim"][0]["result"] == "pass"
        assert rep["mime"]["parts"][1]["sha256"] == hashlib.sha256(ATTACHMENT).hexdigest()
        # A changed body: fail, with a reason.
        path.write_bytes(msg.replace(b"Hello", b"Hallo"))
        rep = inspect(sb, str(path), "--dns", dns.address)
        assert rep["authentication"]["dkim"][0]["result"] == "fail"
        assert rep["authentication"]["dkim"][0]["reason"]
    finally:
        dns.stop()


def test_inspect_garbage_and_errors(make_sandbox, tmp_path):
    sb = make_sandbox()
    path = tmp_path / "junk"
    path.write_bytes(bytes(range(256)) * 3 + b"\xff\xfe: \x00\x01\r\n\r\n\x80")
    rep = inspect(sb, str(path), "--no-checks")
    assert rep["mime"]["type"] == "text/plain"
    json.dumps(rep)  # valid JSON strings throughout
    out = subprocess.run([PETRELCTL, "-c", sb.conf, "inspect", USER, "INBOX", "999"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "999" in out.stderr
    out = subprocess.run([PETRELCTL, "-c", sb.conf, "inspect"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2
    out = subprocess.run([PETRELCTL, "-c", sb.conf, "inspect", str(path), "--client-ip", "x"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
