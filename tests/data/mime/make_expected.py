#!/usr/bin/python3
"""
Regenerates the .expected files of the MIME corpus from a reference server.

    sudo /usr/bin/python3 tests/data/mime/make_expected.py [name.eml ...]

Needs root (Dovecot drops to its own accounts) and Debian's dovecot-imapd
(Dovecot 2.3.19.1 when the files were made). The script starts a private
Dovecot in a temporary directory, listening on a random 127.0.0.1 port with
one throwaway user, APPENDs every corpus message over IMAP (imaplib) and
FETCHes ENVELOPE, BODY, BODYSTRUCTURE and the body sections of each part
(BODY.PEEK[1], [1.MIME], [2.HEADER]...). The raw FETCH values, literals
included, go to NAME.expected next to NAME.eml. Nothing else is installed,
changed or left behind; Dovecot is stopped at the end.

File format (read by tests/unit/store/test_mime.c), one entry per block:

    # comment
    DOVECOT <ITEM> <length>\\n<length bytes>\\n   Dovecot's answer
    SECTION <spec> <length>\\n<bytes>\\n          Dovecot's BODY[<spec>]
    PETREL <ITEM> <length>\\n<length bytes>\\n    what Petrel must answer instead
    WHY <ITEM> <one line: the RFC rule that decides>
    LIMITS <max_depth> <max_parts>              parse with these limits
    NOSECTIONS <reason>                         skip the section checks

DOVECOT and SECTION entries are rewritten on every run; PETREL, WHY, LIMITS
and NOSECTIONS entries are written by hand after reviewing Dovecot's answer
against the RFCs, and are carried over unchanged. The script warns when a
DOVECOT entry that has a PETREL override changed, so the override is
reviewed again.
"""
import glob
import grp
import imaplib
import os
import pwd
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DOVECOT = "/usr/sbin/dovecot"
USER, PASSWORD = "corpus@example.test", "corpus-pass"
ITEMS = ("ENVELOPE", "BODY", "BODYSTRUCTURE")
# Section fetches are stored for messages up to this size and count.
SECTIONS_MAX_BYTES = 64 * 1024
SECTIONS_MAX = 80
HAND_WRITTEN = ("PETREL", "WHY", "LIMITS", "NOSECTIONS")

CONF = """\
protocols = imap
listen = 127.0.0.1
instance_name = corpus{port}
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={dir}/home/%u
}}
first_valid_uid = {uid}
first_valid_gid = {gid}
mail_location = maildir:~/Maildir
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


class Dovecot:
    """A private Dovecot instance; stop() removes every trace of it."""

    def __init__(self):
        if os.geteuid() != 0:
            sys.exit("make_expected.py: run as root (Dovecot drops privileges)")
        self.dir = tempfile.mkdtemp(prefix="petrel-mime-corpus-")
        os.chmod(self.dir, 0o755)
        self.port = self._free_port()
        uid, gid = pwd.getpwnam("dovecot").pw_uid, grp.getgrnam("dovecot").gr_gid
        for sub in ("run", "state"):
            os.mkdir(os.path.join(self.dir, sub))
        with open(os.path.join(self.dir, "users"), "w") as f:
            f.write("%s:{PLAIN}%s\n" % (USER, PASSWORD))
        maildir = os.path.join(self.dir, "home", USER, "Maildir")
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(maildir, sub))
        for root, dirs, _ in os.walk(os.path.join(self.dir, "home")):
            os.chown(root, uid, gid)
            for d in dirs:
                os.chown(os.path.join(root, d), uid, gid)
        self.conf = os.path.join(self.dir, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write(CONF.format(dir=self.dir, port=self.port, uid=uid, gid=gid))
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", self.conf],
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 20
        while not self._accepts():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                sys.exit("make_expected.py: Dovecot did not start")
            time.sleep(0.1)

    @staticmethod
    def _free_port():
        rng = random.SystemRandom()
        for _ in range(100):
            port = rng.randrange(20000, 60000)
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                    return port
                except OSError:
                    continue
        sys.exit("make_expected.py: no free port")

    def _accepts(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def version(self):
        out = subprocess.run([DOVECOT, "--version"], capture_output=True, text=True).stdout
        return out.split()[0] if out else "unknown"

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Client:
    """imaplib for login and APPEND; FETCH answers are read raw so that
    literals come back byte for byte."""

    def __init__(self, port):
        self.imap = imaplib.IMAP4("127.0.0.1", port, timeout=60)
        self.imap.login(USER, PASSWORD)
        self.imap.select("INBOX")
        self.count = 0

    def command(self, line, literal=None):
        tag = self.imap._new_tag()
        if literal is None:
            self.imap.send(tag + b" " + line + b"\r\n")
        else:
            # LITERAL+, and a literal8 (RFC 3516) when there are NULs
            fmt = b" ~{%d+}\r\n" if b"\0" in literal else b" {%d+}\r\n"
            self.imap.send(tag + b" " + line + fmt % len(literal) + literal + b"\r\n")
        out = b""
        while True:
            line = self.imap.readline()
            if not line:
                raise EOFError("connection closed")
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise RuntimeError(line.decode(errors="replace"))
                return out
            out += line
            m = re.search(rb"\{(\d+)\}\r\n$", line)
            if m:
                out += self.imap.read(int(m.group(1)))

    def append(self, message):
        self.command(b"APPEND INBOX", message)
        self.count += 1
        return self.count

    def fetch(self, seq, item, answer_name):
        resp = self.command(b"FETCH %d (%s)" % (seq, item.encode()))
        prefix = b"* %d FETCH (%s " % (seq, answer_name.encode())
        start = resp.index(prefix) + len(prefix)
        if not resp.endswith(b")\r\n"):
            raise RuntimeError("unexpected FETCH answer: %r" % resp[-80:])
        return resp[start:-3]


# ------------------------------------------------------------ BODYSTRUCTURE

def tokenize(data):
    """IMAP tokens of a FETCH value: '(' ')' None (NIL) bytes (strings)
    and atoms as str."""
    i, out = 0, []
    while i < len(data):
        c = data[i:i + 1]
        if c in (b"(", b")"):
            out.append(c.decode())
            i += 1
        elif c == b" ":
            i += 1
        elif c == b'"':
            j, s = i + 1, bytearray()
            while data[j:j + 1] != b'"':
                if data[j:j + 1] == b"\\":
                    j += 1
                s += data[j:j + 1]
                j += 1
            out.append(bytes(s))
            i = j + 1
        elif c == b"{":
            j = data.index(b"}", i)
            n = int(data[i + 1:j])
            out.append(data[j + 3:j + 3 + n])
            i = j + 3 + n
        else:
            j = i
            while j < len(data) and data[j:j + 1] not in (b" ", b"(", b")"):
                j += 1
            atom = data[i:j].decode()
            out.append(None if atom == "NIL" else atom)
            i = j
    return out


def parse_list(tokens, pos=0):
    assert tokens[pos] == "("
    items, pos = [], pos + 1
    while tokens[pos] != ")":
        if tokens[pos] == "(":
            sub, pos = parse_list(tokens, pos)
            items.append(sub)
        else:
            items.append(tokens[pos])
            pos += 1
    return items, pos + 1


def is_multipart(body):
    return isinstance(body[0], list)


def is_message(body):
    return (not is_multipart(body) and isinstance(body[0], bytes) and
            body[0].lower() == b"message" and isinstance(body[1], bytes) and
            body[1].lower() == b"rfc822" and len(body) > 8 and isinstance(body[8], list))


def section_specs(bodystructure):
    """The body sections RFC 3501 6.4.5 numbers for this structure."""
    root, _ = parse_list(tokenize(bodystructure))
    specs = ["HEADER", "TEXT"]

    def children(body, prefix):
        for i, child in enumerate(c for c in body if isinstance(c, list)):
            visit(child, prefix + [i + 1])

    def visit(body, path):
        name = ".".join(map(str, path))
        specs.extend([name, name + ".MIME"])
        if is_multipart(body):
            children(body, path)
        elif is_message(body):
            specs.extend([name + ".HEADER", name + ".TEXT"])
            inner = body[8]
            if is_multipart(inner):
                children(inner, path)
            else:
                visit(inner, path + [1])

    if is_multipart(root):
        children(root, [])
    else:
        visit(root, [1])
    return specs


# ------------------------------------------------------------ .expected I/O

def read_entries(path):
    """Returns the list of (kind, name, value) entries of an .expected file."""
    entries = []
    if not os.path.exists(path):
        return entries
    data = open(path, "rb").read()
    pos = 0
    while pos < len(data):
        end = data.index(b"\n", pos)
        line = data[pos:end].decode()
        pos = end + 1
        if not line or line.startswith("#"):
            continue
        kind, _, rest = line.partition(" ")
        if kind in ("DOVECOT", "SECTION", "PETREL"):
            name, _, length = rest.rpartition(" ")
            if length == "NIL":
                entries.append((kind, name, None))
                continue
            n = int(length)
            entries.append((kind, name, data[pos:pos + n]))
            pos += n + 1
        else:
            entries.append((kind, None, rest))
    return entries


def block(kind, name, value):
    if value is None:
        return b"%s %s NIL\n" % (kind.encode(), name.encode())
    return b"%s %s %d\n" % (kind.encode(), name.encode(), len(value)) + value + b"\n"


def write_expected(path, eml_name, version, fetched, sections, kept, old):
    out = [b"# %s: FETCH results from Dovecot %s, made by make_expected.py.\n"
           % (eml_name.encode(), version.encode()),
           b"# DOVECOT and SECTION entries are regenerated; PETREL, WHY, LIMITS and\n"
           b"# NOSECTIONS entries are written by hand and kept.\n"]
    for item in ITEMS:
        out.append(block("DOVECOT", item, fetched[item]))
    for spec, value in sections:
        out.append(block("SECTION", spec, value))
    for kind, name, value in kept:
        if kind == "PETREL":
            out.append(block(kind, name, value))
        else:
            out.append(("%s %s\n" % (kind, value)).encode())
    with open(path, "wb") as f:
        f.write(b"".join(out))
    overridden = {name for kind, name, _ in kept if kind == "PETREL"}
    for kind, name, value in old:
        if kind == "DOVECOT" and name in overridden and fetched.get(name) != value:
            print("%s: Dovecot's %s changed; review the PETREL override" % (eml_name, name))


def main(argv):
    names = argv or sorted(os.path.basename(p) for p in glob.glob(os.path.join(HERE, "*.eml")))
    server = Dovecot()
    try:
        client = Client(server.port)
        version = server.version()
        for name in names:
            message = open(os.path.join(HERE, name), "rb").read()
            seq = client.append(message)
            fetched = {item: client.fetch(seq, item, item) for item in ITEMS}
            sections = []
            specs = section_specs(fetched["BODYSTRUCTURE"])
            if len(message) <= SECTIONS_MAX_BYTES and len(specs) <= SECTIONS_MAX:
                for spec in specs:
                    raw = client.fetch(seq, "BODY.PEEK[%s]" % spec, "BODY[%s]" % spec)
                    value = tokenize(raw)[0] if raw != b'""' else b""
                    sections.append((spec, value))
            path = os.path.join(HERE, name[:-4] + ".expected")
            old = read_entries(path)
            kept = [e for e in old if e[0] in HAND_WRITTEN]
            write_expected(path, name, version, fetched, sections, kept, old)
            print("%s: %d sections" % (name, len(sections)))
    finally:
        server.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
