"""lmtpd's SPF, DKIM and DMARC verdicts next to independent implementations.

A dnslib server on loopback serves every record; lmtpd asks it through
`[lmtp] dns_servers`, and python3-spf (through dnspython) and python3-dkim
ask the same server. Each case is delivered through lmtpd with XFORWARD
carrying the client address, and the verdict in the stored message's
Authentication-Results field must equal the Python library's.
"""

import base64
import os
import subprocess

import dkim
import dns.resolver
import nacl.encoding
import nacl.signing
import pytest
import spf

from conftest import SOURCE_DIR, USER
from dnsserver import DnsServer
from lmtp_helpers import cat, lmtp_client, lmtp_overrides, transaction, uid_of, verdicts

KEYS = os.path.join(SOURCE_DIR, "tests", "data", "dkim")

# (name, zone records for the case's domain(s), client ip, mail from, helo).
# "D" in names and values stands for the case's own domain, cN.test.
SPF_CASES = [
    ("ip4_pass", {"D": [("TXT", "v=spf1 ip4:192.0.2.1 -all")]}, "192.0.2.1", "a@D", "h.D"),
    ("ip4_fail", {"D": [("TXT", "v=spf1 ip4:192.0.2.1 -all")]}, "192.0.2.2", "a@D", "h.D"),
    ("softfail", {"D": [("TXT", "v=spf1 ~all")]}, "192.0.2.1", "a@D", "h.D"),
    ("neutral", {"D": [("TXT", "v=spf1 ?all")]}, "192.0.2.1", "a@D", "h.D"),
    ("no_record", {"D": [("A", "192.0.2.1")]}, "192.0.2.1", "a@D", "h.D"),
    ("nxdomain", {}, "192.0.2.1", "a@D", "h.D"),
    ("cidr", {"D": [("TXT", "v=spf1 ip4:192.0.2.0/24 -all")]}, "192.0.2.77", "a@D", "h.D"),
    ("ip6", {"D": [("TXT", "v=spf1 ip6:2001:db8::/32 -all")]}, "2001:db8::5", "a@D", "h.D"),
    ("ip6_vs_ip4", {"D": [("TXT", "v=spf1 ip4:192.0.2.0/24 -all")]}, "2001:db8::5", "a@D", "h.D"),
    ("a", {"D": [("TXT", "v=spf1 a -all"), ("A", "192.0.2.10")]}, "192.0.2.10", "a@D", "h.D"),
    ("a_cidr", {"D": [("TXT", "v=spf1 a:host.D/24 -all")], "host.D": [("A", "192.0.2.99")]},
     "192.0.2.3", "a@D", "h.D"),
    ("mx", {"D": [("TXT", "v=spf1 mx -all"), ("MX", "10 mx.D")], "mx.D": [("A", "192.0.2.20")]},
     "192.0.2.20", "a@D", "h.D"),
    ("include_pass", {"D": [("TXT", "v=spf1 include:inc.D -all")],
                      "inc.D": [("TXT", "v=spf1 ip4:192.0.2.1 -all")]}, "192.0.2.1", "a@D", "h.D"),
    ("include_fail_no_match", {"D": [("TXT", "v=spf1 include:inc.D ~all")],
                               "inc.D": [("TXT", "v=spf1 -all")]}, "192.0.2.1", "a@D", "h.D"),
    ("include_none", {"D": [("TXT", "v=spf1 include:inc.D -all")], "inc.D": [("A", "192.0.2.1")]},
     "192.0.2.1", "a@D", "h.D"),
    ("redirect", {"D": [("TXT", "v=spf1 redirect=r.D")], "r.D": [("TXT", "v=spf1 ip4:192.0.2.1 -all")]},
     "192.0.2.1", "a@D", "h.D"),
    ("redirect_none", {"D": [("TXT", "v=spf1 redirect=r.D")]}, "192.0.2.1", "a@D", "h.D"),
    ("exists_macro", {"D": [("TXT", "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all")],
                      "1.2.0.192.strong._spf.D": [("A", "127.0.0.2")]},
     "192.0.2.1", "strong-bad@D", "h.D"),
    ("ten_lookups", {"D": [("TXT", "v=spf1 " + " ".join("a:n%d.D" % i for i in range(10)) +
                            " ip4:192.0.2.1 -all")],
                     **{"n%d.D" % i: [("A", "198.51.100.%d" % i)] for i in range(10)}},
     "192.0.2.1", "a@D", "h.D"),
    ("eleven_lookups", {"D": [("TXT", "v=spf1 " + " ".join("a:n%d.D" % i for i in range(11)) +
                               " ip4:192.0.2.1 -all")],
                        **{"n%d.D" % i: [("A", "198.51.100.%d" % i)] for i in range(11)}},
     "192.0.2.1", "a@D", "h.D"),
    ("two_void", {"D": [("TXT", "v=spf1 a:v1.D a:v2.D ip4:192.0.2.1 -all")]}, "192.0.2.1", "a@D", "h.D"),
    ("three_void", {"D": [("TXT", "v=spf1 a:v1.D a:v2.D a:v3.D ip4:192.0.2.1 -all")]},
     "192.0.2.1", "a@D", "h.D"),
    ("two_records", {"D": [("TXT", "v=spf1 -all"), ("TXT", "v=spf1 +all")]}, "192.0.2.1", "a@D", "h.D"),
    ("bad_ip4", {"D": [("TXT", "v=spf1 ip4:300.1.1.1 -all")]}, "192.0.2.1", "a@D", "h.D"),
    ("unknown_mechanism", {"D": [("TXT", "v=spf1 foo -all")]}, "192.0.2.1", "a@D", "h.D"),
    ("unknown_modifier_ignored", {"D": [("TXT", "v=spf1 foo=bar ip4:192.0.2.1 -all")]},
     "192.0.2.1", "a@D", "h.D"),
    ("servfail", {"D": [("SERVFAIL", None)]}, "192.0.2.1", "a@D", "h.D"),
    ("null_sender_helo", {"helo.D": [("TXT", "v=spf1 ip4:192.0.2.1 -all")]}, "192.0.2.1", "", "helo.D"),
    ("ptr", {"D": [("TXT", "v=spf1 ptr -all")], "host.D": [("A", "192.0.2.1")],
             "1.2.0.192.in-addr.arpa": [("PTR", "host.D")]}, "192.0.2.1", "a@D", "h.D"),
    ("minus_first", {"D": [("TXT", "v=spf1 -ip4:192.0.2.1 +all")]}, "192.0.2.1", "a@D", "h.D"),
    ("upper_case", {"D": [("TXT", "V=SPF1 IP4:192.0.2.1 -ALL")]}, "192.0.2.1", "a@D", "h.D"),
    ("exp_on_fail", {"D": [("TXT", "v=spf1 -all exp=e.D")], "e.D": [("TXT", "%{i} not allowed")]},
     "192.0.2.1", "a@D", "h.D"),
    ("include_loop", {"D": [("TXT", "v=spf1 include:D -all")]}, "192.0.2.1", "a@D", "h.D"),
    ("split_strings", {"D": [("TXT", ["v=spf1 ip4:192.0.2.1", " -all"])]}, "192.0.2.1", "a@D", "h.D"),
]


def materialise(cases):
    """Gives each case its own domain cN.test: (zone, [(name, ip, sender, helo)])."""
    zone, out = {}, []

    def sub(v, dom):
        if isinstance(v, list):
            return [sub(x, dom) for x in v]
        return v.replace("D", dom) if isinstance(v, str) else v

    for n, (name, records, ip, sender, helo) in enumerate(cases):
        dom = "c%d.test" % n
        for rname, rrs in records.items():
            zone[sub(rname, dom)] = [(t, sub(v, dom)) for t, v in rrs]
        out.append((name, ip, sub(sender, dom), sub(helo, dom)))
    return zone, out


def rsa_pub(name):
    der = subprocess.run(["openssl", "rsa", "-in", os.path.join(KEYS, name), "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return base64.b64encode(der).decode()


def ed_key():
    seed = open(os.path.join(KEYS, "ed25519.key"), "rb").read().strip()
    sk = nacl.signing.SigningKey(seed, encoder=nacl.encoding.Base64Encoder)
    return seed, sk.verify_key.encode(nacl.encoding.Base64Encoder).decode()


@pytest.fixture(scope="module")
def dns_zone():
    zone, _ = materialise(SPF_CASES)
    ed_seed, ed_pub = ed_key()
    zone.update({
        "rsa._domainkey.signer.test": [("TXT", "v=DKIM1; k=rsa; p=" + rsa_pub("rsa2048.pem"))],
        "ed._domainkey.signer.test": [("TXT", "v=DKIM1; k=ed25519; p=" + ed_pub)],
        "signer.test": [("TXT", "v=spf1 ip4:192.0.2.50 -all")],
        "_dmarc.signer.test": [("TXT", "v=DMARC1; p=reject")],
        "_dmarc.strict.test": [("TXT", "v=DMARC1; p=quarantine; adkim=s; aspf=s")],
        "mail.strict.test": [("TXT", "v=spf1 ip4:192.0.2.50 -all")],
        "rsa._domainkey.mail.strict.test": [("TXT", "v=DKIM1; k=rsa; p=" + rsa_pub("rsa2048.pem"))],
        "_dmarc.org.test": [("TXT", "v=DMARC1; p=none; sp=reject; pct=100")],
        "sub.org.test": [("TXT", "v=spf1 -all")],
        "_dmarc.half.test": [("TXT", "v=DMARC1; p=reject; pct=0")],
        "half.test": [("TXT", "v=spf1 -all")],
        "nodmarc.test": [("TXT", "v=spf1 ip4:192.0.2.50 -all")],
    })
    server = DnsServer(zone)
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = ["127.0.0.1"]
    res.port = server.port
    res.timeout, res.lifetime = 2, 4
    saved = dns.resolver.default_resolver
    dns.resolver.default_resolver = res
    yield server
    dns.resolver.default_resolver = saved
    server.stop()


@pytest.fixture(scope="module")
def lmtp(tmp_path_factory, dns_zone):
    from conftest import Sandbox
    sb = Sandbox(tmp_path_factory.mktemp("interop"),
                 lmtp_overrides(dns_zone, {("lmtp", "dmarc_reject_action"): "tag",
                                           ("lmtp", "dmarc_quarantine_action"): "tag"}))
    sb.start("lmtpd")
    yield sb
    sb.stop_all()


def deliver(lmtp, ip, sender, helo, message):
    c = lmtp_client(lmtp)
    addr = ("IPV6:" + ip) if ":" in ip else ip
    _, rcpts, _, finals = transaction(c, sender, [USER], message,
                                      xforward="ADDR=%s HELO=%s" % (addr, helo))
    assert finals and finals[0].startswith("250 2.0.0"), (rcpts, finals)
    c.close()
    return cat(lmtp, uid_of(finals[0]))


def test_spf_agrees_with_python3_spf(lmtp):
    _, cases = materialise(SPF_CASES)
    assert len(cases) >= 25
    disagreements = []
    for name, ip, sender, helo in cases:
        expected, _ = spf.check2(i=ip, s=sender, h=helo)
        msg = "From: x@example.test\r\nSubject: spf %s\r\n\r\nbody\r\n" % name
        v, ar = verdicts(deliver(lmtp, ip, sender, helo, msg))
        if v.get("spf") != expected:
            disagreements.append((name, expected, v.get("spf"), ar))
    assert disagreements == []


def sign(message, selector, key, algo, domain=b"signer.test", canon=(b"relaxed", b"relaxed")):
    sig = dkim.sign(message, selector, domain, key, canonicalize=canon, signature_algorithm=algo,
                    include_headers=[b"from", b"to", b"subject", b"date"])
    return sig + message


def test_dkim_agrees_with_python3_dkim(lmtp):
    rsa = open(os.path.join(KEYS, "rsa2048.pem"), "rb").read()
    ed_seed, _ = ed_key()
    base = (b"From: Signer <news@signer.test>\r\nTo: demo@example.test\r\nSubject: signed\r\n"
            b"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\nHello,\r\n\r\nsigned body.\r\n")
    cases = [
        ("rsa_relaxed", sign(base, b"rsa", rsa, b"rsa-sha256"), "pass"),
        ("rsa_simple", sign(base, b"rsa", rsa, b"rsa-sha256", canon=(b"simple", b"simple")), "pass"),
        ("ed25519", sign(base, b"ed", ed_seed, b"ed25519-sha256"), "pass"),
        ("both", sign(sign(base, b"ed", ed_seed, b"ed25519-sha256"), b"rsa", rsa, b"rsa-sha256"), "pass"),
        ("body_changed", sign(base, b"rsa", rsa, b"rsa-sha256").replace(b"signed body", b"SIGNED body"),
         "fail"),
        ("header_changed", sign(base, b"ed", ed_seed, b"ed25519-sha256").replace(
            b"Subject: signed", b"Subject: forged"), "fail"),
        ("unsigned_header_added", b"X-Added: 1\r\n" + sign(base, b"rsa", rsa, b"rsa-sha256"), "pass"),
        ("missing_key", sign(base, b"nokey", rsa, b"rsa-sha256"), "permerror"),
    ]
    for name, msg, expected in cases:
        python_ok = dkim.verify(msg)
        stored = deliver(lmtp, "192.0.2.50", "news@signer.test", "mail.signer.test", msg)
        v, ar = verdicts(stored)
        assert v["dkim"] == expected, (name, ar)
        assert (v["dkim"] == "pass") == python_ok, (name, python_ok, ar)
        # What we stored still verifies for python3-dkim when it did before:
        # our fields went on top, outside the signature.
        if python_ok:
            assert dkim.verify(stored), name


def test_dmarc_cases(lmtp):
    rsa = open(os.path.join(KEYS, "rsa2048.pem"), "rb").read()

    def run(ip, mail_from, from_hdr, sign_domain=None):
        msg = ("From: <%s>\r\nTo: demo@example.test\r\nSubject: dmarc\r\n"
               "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\nbody\r\n" % from_hdr).encode()
        if sign_domain:
            msg = sign(msg, b"rsa", rsa, b"rsa-sha256", domain=sign_domain.encode())
        v, ar = verdicts(deliver(lmtp, ip, mail_from, "h.test", msg))
        return v["dmarc"], ar

    # Pass through SPF alone (aligned MAIL FROM), no signature.
    assert run("192.0.2.50", "a@signer.test", "news@signer.test")[0] == "pass"
    # Pass through DKIM alone: SPF fails (wrong IP), signature aligned.
    assert run("192.0.2.99", "a@signer.test", "news@signer.test", "signer.test")[0] == "pass"
    # Neither: fail, and the policy is reported.
    result, ar = run("192.0.2.99", "a@signer.test", "news@signer.test")
    assert result == "fail" and "p=reject" in ar
    # Relaxed alignment: MAIL FROM in a subdomain of the From domain's org
    # domain passes under relaxed...
    assert run("192.0.2.50", "a@mail.strict.test", "x@mail.strict.test")[0] == "pass"
    # ...but strict alignment (adkim=s, aspf=s) needs exact domains.
    result, ar = run("192.0.2.50", "a@mail.strict.test", "x@strict.test", "mail.strict.test")
    assert result == "fail", ar
    assert "p=quarantine" in ar
    # sp= applies to a subdomain without its own record.
    result, ar = run("192.0.2.99", "a@sub.org.test", "x@sub.org.test")
    assert result == "fail" and "p=reject" in ar, ar
    # pct=0: the policy is never applied (disposition lowered).
    result, ar = run("192.0.2.99", "a@half.test", "x@half.test")
    assert result == "fail" and "dis=quarantine" in ar, ar
    # No DMARC record at all.
    assert run("192.0.2.50", "a@nodmarc.test", "x@nodmarc.test")[0] == "none"
