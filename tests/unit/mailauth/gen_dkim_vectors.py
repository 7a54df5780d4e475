#!/usr/bin/python3
"""Generates the DKIM test vectors for test_dkim.c with python3-dkim.

Writes tests/data/dkim/<name>.eml (CRLF messages, signed by python3-dkim
with the fixed keys kept next to them) and tests/unit/mailauth/
dkim_vectors.h (the key zone for fake_dns and python3-dkim's own verdict
for every signature of every vector, so the C test can compare).

Run it again only to add vectors:  /usr/bin/python3 gen_dkim_vectors.py
(Debian's python3-dkim and python3-nacl; RSA keys come from the openssl
command on first run and are then reused, and RSA PKCS#1 v1.5 and Ed25519
signatures are deterministic, so the output is stable.)
"""
import base64
import os
import subprocess
import time

import dkim
import dkim.canonicalization
import dkim.crypto
import nacl.encoding
import nacl.signing

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, '..', '..', '..'))
DATA = os.path.join(ROOT, 'tests', 'data', 'dkim')
HEADER_OUT = os.path.join(HERE, 'dkim_vectors.h')

# Signing time and python3-dkim's clock for its t=/x= checks; the C test
# passes the same value to dkim_verifier_new().
NOW = 1700000000
time.time = lambda: float(NOW)

DOMAIN = b'example.com'


def rsa_key(name, bits):
    path = os.path.join(DATA, name + '.pem')
    if not os.path.exists(path):
        subprocess.run(['openssl', 'genrsa', '-traditional', '-out', path, str(bits)],
                       check=True, capture_output=True)
    der = subprocess.run(['openssl', 'rsa', '-in', path, '-pubout', '-outform', 'DER'],
                         check=True, capture_output=True).stdout
    with open(path, 'rb') as f:
        return f.read(), base64.b64encode(der)


def ed25519_key(name):
    path = os.path.join(DATA, name + '.key')
    if not os.path.exists(path):
        seed = nacl.signing.SigningKey.generate().encode(nacl.encoding.Base64Encoder)
        with open(path, 'wb') as f:
            f.write(seed + b'\n')
    with open(path, 'rb') as f:
        seed = f.read().strip()
    sk = nacl.signing.SigningKey(seed, encoder=nacl.encoding.Base64Encoder)
    return seed, sk.verify_key.encode(nacl.encoding.Base64Encoder)


os.makedirs(DATA, exist_ok=True)
RSA_PEM, RSA_PUB = rsa_key('rsa2048', 2048)
OTHER_PEM, OTHER_PUB = rsa_key('rsa2048-other', 2048)
SHORT_PEM, SHORT_PUB = rsa_key('rsa768', 768)
ED_SEED, ED_PUB = ed25519_key('ed25519')

# name -> TXT value; "\x1f" splits character-strings (fake_dns joins them),
# "!TEMPFAIL" makes fake_dns fail the lookup. Absent names are NXDOMAIN.
ZONE = {
    # The RSA record in two strings, as a 2048-bit key must be published.
    'rsa._domainkey.example.com': b'v=DKIM1; k=rsa; p=' + RSA_PUB[:200] + b'\x1f' + RSA_PUB[200:],
    'ed._domainkey.example.com': b'v=DKIM1; k=ed25519; p=' + ED_PUB,
    'wrong._domainkey.example.com': b'v=DKIM1; k=rsa; p=' + OTHER_PUB,
    'revoked._domainkey.example.com': b'v=DKIM1; k=rsa; p=',
    'tempfail._domainkey.example.com': b'!TEMPFAIL',
    'short._domainkey.example.com': b'v=DKIM1; k=rsa; p=' + SHORT_PUB,
    'strict._domainkey.example.com': b'v=DKIM1; k=rsa; t=s; p=' + RSA_PUB,
}


def dnsfunc(name, timeout=5):
    value = ZONE.get(name.decode('ascii').rstrip('.').lower())
    if value is None or value == b'!TEMPFAIL':
        return None
    return value.replace(b'\x1f', b'')


HEADER = (b'Received: from mail.example.com (mail.example.com [192.0.2.1])\r\n'
          b'\tby mx.example.net; Tue, 14 Nov 2023 22:13:20 +0000\r\n'
          b'From: Alice Example <alice@example.com>\r\n'
          b'To: Bob <bob@example.net>\r\n'
          b'Subject: DKIM   test\r\n\t message with  folding\r\n'
          b'Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n'
          b'Message-ID: <vector-1@example.com>\r\n'
          b'MIME-Version: 1.0\r\n'
          b'Content-Type: text/plain; charset=us-ascii\r\n')
BODY = (b'Hello Bob,\r\n'
        b'\r\n'
        b'This  body has   runs of\twhitespace, trailing spaces   \r\n'
        b'and tabs\t\r\n'
        b'  and leading ones.\r\n'
        b'\r\n'
        b'\r\n')
MESSAGE = HEADER + b'\r\n' + BODY
# Reply-To is absent: signing it means one may not be added later.
SIGNED = [b'From', b'To', b'Subject', b'Date', b'Message-ID', b'MIME-Version',
          b'Content-Type', b'Reply-To']


def sign(msg, selector=b'rsa', alg=b'rsa-sha256', canon=(b'relaxed', b'relaxed'),
         include=SIGNED, length=False, identity=None, t=NOW, x=None, pem=RSA_PEM):
    """python3-dkim's own DKIM.sign(), minus its argument checks, so that
    x=, a bad i= or an h= without From can be signed too. Returns the
    message with the new DKIM-Signature field on top."""
    d = dkim.DKIM(msg, signature_algorithm=alg)
    if alg == b'ed25519-sha256':
        pk = nacl.signing.SigningKey(ED_SEED, encoder=nacl.encoding.Base64Encoder)
    else:
        pk = dkim.crypto.parse_pem_private_key(pem)
    policy = dkim.canonicalization.CanonicalizationPolicy.from_c_value(b'/'.join(canon))
    body = policy.canonicalize_body(d.body)
    d.hasher = dkim.HASH_ALGORITHMS[alg]
    fields = [(b'v', b'1'), (b'a', alg), (b'c', b'/'.join(canon)), (b'd', DOMAIN),
              (b'i', identity or b'@' + DOMAIN)]
    if length:
        fields.append((b'l', str(len(body)).encode()))
    fields += [(b'q', b'dns/txt'), (b's', selector), (b't', str(t).encode())]
    if x is not None:
        fields.append((b'x', str(x).encode()))
    fields += [(b'h', b' : '.join(include)),
               (b'bh', base64.b64encode(d.hasher(body).digest())),
               (b'b', b'0' * 60)]
    include = tuple(h.lower() for h in include)
    return b'DKIM-Signature: ' + d.gen_header(fields, include, policy, b'DKIM-Signature', pk) + msg


def edit_signature(msg, old, new):
    """Replaces old by new inside the topmost DKIM-Signature field only."""
    end = msg.index(b'\r\n', 0)
    while msg[end + 2:end + 3] in (b' ', b'\t'):
        end = msg.index(b'\r\n', end + 2)
    field = msg[:end]
    assert old in field, old
    return field.replace(old, new, 1) + msg[end:]


def drop_b_tag(msg):
    end = msg.index(b'\r\n', 0)
    while msg[end + 2:end + 3] in (b' ', b'\t'):
        end = msg.index(b'\r\n', end + 2)
    field = msg[:end]
    cut = field.rindex(b'b=')
    return field[:cut].rstrip(b' \t\r\n;') + msg[end:]


def python_verdicts(msg):
    """python3-dkim's verify() for every signature, topmost first."""
    out = ''
    count = len([1 for name, _ in dkim.DKIM(msg).headers if name.lower() == b'dkim-signature'])
    for i in range(count):
        try:
            ok = dkim.DKIM(msg).verify(idx=i, dnsfunc=dnsfunc)
        except Exception:  # DKIMException, and nacl's on a k= mismatch
            ok = False
        out += '1' if ok else '0'
    return out


def vectors():
    v = {}
    v['rsa_relaxed_relaxed'] = sign(MESSAGE)
    v['rsa_simple_simple'] = sign(MESSAGE, canon=(b'simple', b'simple'))
    v['rsa_relaxed_simple'] = sign(MESSAGE, canon=(b'relaxed', b'simple'))
    v['rsa_simple_relaxed'] = sign(MESSAGE, canon=(b'simple', b'relaxed'))
    v['ed25519'] = sign(MESSAGE, selector=b'ed', alg=b'ed25519-sha256')
    v['ed25519_simple'] = sign(MESSAGE, selector=b'ed', alg=b'ed25519-sha256',
                               canon=(b'simple', b'simple'))
    # Topmost signature made with a key other than the published one.
    v['two_sigs_bad_good'] = sign(sign(MESSAGE), selector=b'wrong')
    v['rsa_and_ed25519'] = sign(sign(MESSAGE), selector=b'ed', alg=b'ed25519-sha256')

    good = v['rsa_relaxed_relaxed']
    v['altered_body'] = good.replace(b'Hello Bob', b'Hello Eve')
    v['altered_signed_header'] = good.replace(b'Subject: DKIM', b'Subject: PAID')
    v['unsigned_header_added'] = b'X-Spam-Score: 0.1\r\n' + good
    v['absent_signed_header_added'] = b'Reply-To: <mallory@evil.example>\r\n' + good
    v['from_added'] = b'From: Mallory <mallory@evil.example>\r\n' + good
    refold = (b'Subject: DKIM   test\r\n\t message with  folding\r\n',
              b'Subject: DKIM test\r\n message    with folding  \r\n')
    v['refolded_relaxed'] = good.replace(*refold)
    v['refolded_simple'] = v['rsa_simple_simple'].replace(*refold)
    v['trailing_blank_lines_simple'] = v['rsa_simple_simple'] + b'\r\n\r\n\r\n'
    v['trailing_ws_lines_relaxed'] = good + b'  \r\n\t\r\n\r\n'
    empty = HEADER + b'\r\n'
    v['empty_body_relaxed'] = sign(empty)
    v['empty_body_simple'] = sign(empty, canon=(b'simple', b'simple'))

    v['body_length_appended'] = sign(MESSAGE, length=True) + \
        b'-- \r\nmailing list footer added in transit\r\n'
    v['expired'] = sign(MESSAGE, t=NOW - 3 * 86400, x=NOW - 2 * 86400)
    v['not_yet_expired'] = sign(MESSAGE, t=NOW - 3 * 86400, x=NOW + 86400)
    v['timestamp_future'] = sign(MESSAGE, t=NOW + 2 * 86400)
    v['key_revoked'] = sign(MESSAGE, selector=b'revoked')
    v['key_missing'] = sign(MESSAGE, selector=b'nokey')
    v['key_tempfail'] = sign(MESSAGE, selector=b'tempfail')
    v['key_too_short'] = sign(MESSAGE, selector=b'short', pem=SHORT_PEM)
    v['key_strict_subdomain_i'] = sign(MESSAGE, selector=b'strict',
                                       identity=b'alice@mail.example.com')
    v['key_strict_same_i'] = sign(MESSAGE, selector=b'strict', identity=b'alice@example.com')
    v['key_type_mismatch'] = sign(MESSAGE, selector=b'ed')
    v['rsa_sha1'] = sign(MESSAGE, alg=b'rsa-sha1')

    v['missing_b'] = drop_b_tag(good)
    v['bad_base64_b'] = edit_signature(good, b'b=', b'b=Zm9v!YmFy')
    v['unknown_algorithm'] = edit_signature(good, b'a=rsa-sha256', b'a=rsa-sha512')
    v['identity_mismatch'] = sign(MESSAGE, identity=b'alice@example.org')
    v['h_without_from'] = sign(MESSAGE, include=[b'To', b'Subject', b'Date'])

    many = MESSAGE
    for i in range(10):
        many = sign(many, identity=b'user%d@example.com' % i)
    v['many_signatures'] = many
    return v


def c_string(b):
    out = '"'
    for c in b:
        if c == 0x1f:
            out += '\\x1f"\n\t  "'
        elif c in (0x22, 0x5c):
            out += '\\' + chr(c)
        else:
            out += chr(c)
    return out + '"'


def main():
    v = vectors()
    for name in os.listdir(DATA):
        if name.endswith('.eml'):
            os.unlink(os.path.join(DATA, name))
    lines = ['/* Generated by gen_dkim_vectors.py: do not edit. */',
             '#ifndef PETREL_TESTS_DKIM_VECTORS_H',
             '#define PETREL_TESTS_DKIM_VECTORS_H',
             '',
             '#define DKIM_VECTORS_NOW %d' % NOW,
             '',
             'static const struct fake_rr dkim_zone[] = {']
    for name, value in ZONE.items():
        lines.append('\t{"%s", DNS_T_TXT,\n\t %s},' % (name, c_string(value)))
    lines += ['\t{NULL, 0, NULL},', '};', '',
              '/* python3-dkim verify() per signature, topmost first (1 = True). */',
              'struct dkim_python_verdict {',
              '\tconst char *name;',
              '\tconst char *verdicts;',
              '};',
              '',
              'static const struct dkim_python_verdict dkim_python_verdicts[] = {']
    for name, msg in v.items():
        with open(os.path.join(DATA, name + '.eml'), 'wb') as f:
            f.write(msg)
        verdicts = python_verdicts(msg)
        print('%-32s %s' % (name, verdicts))
        lines.append('\t{"%s", "%s"},' % (name, verdicts))
    lines += ['\t{NULL, NULL},', '};', '', '#endif', '']
    with open(HEADER_OUT, 'w') as f:
        f.write('\n'.join(lines))


if __name__ == '__main__':
    main()
