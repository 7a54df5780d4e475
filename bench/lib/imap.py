"""
A raw-socket IMAP client for the IMAP benchmarks (bench_imap.py).

imaplib parses every response line with regular expressions and copies
literals several times; on a FETCH of 10,000 messages the client would cost
more than the server. This client reads with large recv() calls into one
buffer, splits lines with bytes.find, skips literals by length, and counts
what the benchmark checks (FETCH responses, SEARCH hits, bytes). Both
servers get exactly the same bytes from it. Standard library only.

    c = ImapClient(port)                       # plain; tls=True for :993
    c.login(user, password)
    r = c.command("SELECT INBOX")              # raises ImapError unless OK
    r.exists, r.elapsed, r.fetch, r.search, r.nbytes
    r = c.command("FETCH 1:* BODY.PEEK[]<0.1024>", keep=True)
    r.kept                                     # [(first line, [literal, line...])]
    tag = c.idle_start(); ... c.idle_done(tag)
    c.logout()

Timed runs use TimerClient (bench/imap_timer.c) instead: this client
parses at about 100 MB/s, which on a fast server was most of the time.

Every read has a timeout (the socket's); a response that does not end in
the tagged OK raises ImapError with the line.
"""

import itertools
import os
import select
import socket
import subprocess
import time

from instances import HOST, IO_TIMEOUT, BenchError, tls_client_context

RECV_SIZE = 1 << 18


class ImapError(BenchError):
    """A reply other than the one a successful command gets, or a broken
    connection."""


def quote(s):
    """An IMAP quoted string (no CR/LF allowed)."""
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')


def _literal_size(line):
    """n if line ends with {n} (or ~{n}, a literal8), else -1."""
    if not line.endswith(b"}"):
        return -1
    i = line.rfind(b"{")
    if i < 0 or i == len(line) - 2:
        return -1
    digits = line[i + 1:-1]
    if not digits.isdigit():
        return -1
    return int(digits)


class Result:
    """What one command got back."""

    def __init__(self):
        self.elapsed = 0.0   # seconds from sending the command to the tagged reply
        self.status = b""    # the tagged reply line
        self.fetch = 0       # "* n FETCH" responses
        self.search = None   # numbers of the "* SEARCH" responses (None: none came)
        self.exists = None   # n of the last "* n EXISTS"
        self.untagged = []   # first lines of other untagged responses (first 50)
        self.nbytes = 0      # bytes of the whole response, tagged line included
        self.kept = []       # with keep=True: (first line, rest) per FETCH (read_response)


class ImapClient:
    """One IMAP connection over a plain or TLS socket. The greeting is read
    by the constructor."""

    def __init__(self, port, tls=False, host=HOST, timeout=IO_TIMEOUT, ssl_context=None):
        sock = socket.create_connection((host, port), timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if tls:
                sock = (ssl_context or tls_client_context()).wrap_socket(sock)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self.tls = tls
        self.buf = bytearray()
        self.pos = 0
        self.received = 0
        self._tags = itertools.count(1)
        try:
            self.greeting = self.read_line()
        except BaseException:
            self.close()
            raise
        if not self.greeting.startswith(b"* OK"):
            self.close()
            raise ImapError("unexpected greeting %r" % self.greeting[:200])

    # ---------------------------------------------------------- reading

    def settimeout(self, timeout):
        self.sock.settimeout(timeout)

    def _fill(self):
        if self.pos == len(self.buf):
            self.buf.clear()
            self.pos = 0
        elif self.pos > RECV_SIZE * 4:
            del self.buf[:self.pos]
            self.pos = 0
        data = self.sock.recv(RECV_SIZE)
        if not data:
            raise ImapError("connection closed by the server after %r"
                            % bytes(self.buf[max(0, len(self.buf) - 200):]))
        self.received += len(data)
        self.buf += data

    def feed(self):
        """One recv() into the buffer (for callers that poll the socket)."""
        self._fill()

    def buffered_line(self):
        """A complete line already in the buffer (without CRLF), or None."""
        i = self.buf.find(b"\r\n", self.pos)
        if i < 0:
            return None
        line = bytes(self.buf[self.pos:i])
        self.pos = i + 2
        return line

    def pending(self):
        """Bytes a TLS socket has decrypted but not handed out yet (select()
        does not see them)."""
        return self.sock.pending() if self.tls else 0

    def read_line(self):
        """One line, without its CRLF."""
        start = self.pos
        while True:
            i = self.buf.find(b"\r\n", start)
            if i >= 0:
                line = bytes(self.buf[self.pos:i])
                self.pos = i + 2
                return line
            start = max(self.pos, len(self.buf) - 1)
            before = self.pos
            self._fill()
            start -= before - self.pos  # the buffer may have been compacted

    def _read_literal(self, n, keep):
        while len(self.buf) - self.pos < n:
            self._fill()
        data = bytes(self.buf[self.pos:self.pos + n]) if keep else None
        self.pos += n
        return data

    def read_response(self, keep=False):
        """One response: (first line, rest, bytes). A line that ends in a
        literal announcement {n} continues after the n bytes; the first line
        is the text up to the first literal. With keep, rest is what
        follows it: [literal, line, literal, line...]; else it is empty."""
        first = line = self.read_line()
        nbytes = len(line) + 2
        rest = []
        while True:
            n = _literal_size(line)
            if n < 0:
                return first, rest, nbytes
            data = self._read_literal(n, keep)
            line = self.read_line()
            if keep:
                rest += (data, line)
            nbytes += n + len(line) + 2

    # ---------------------------------------------------------- commands

    def send(self, data):
        self.sock.sendall(data)

    def next_tag(self):
        return b"B%d" % next(self._tags)

    def command(self, cmd, keep=False, check=True):
        """Sends "tag cmd" and reads every response up to the tagged reply.
        Returns a Result; raises ImapError if the reply is not OK (unless
        check=False)."""
        tag = self.next_tag()
        r = Result()
        prefix = tag + b" "
        data = prefix + (cmd.encode() if isinstance(cmd, str) else cmd) + b"\r\n"
        t0 = time.perf_counter()
        self.sock.sendall(data)
        while True:
            first, rest, nbytes = self.read_response(keep)
            r.nbytes += nbytes
            if first.startswith(prefix):
                r.elapsed = time.perf_counter() - t0
                r.status = first
                break
            if first.startswith(b"* "):
                words = first.split(b" ", 3)
                kind = words[2] if len(words) > 2 else b""
                if kind == b"FETCH":
                    r.fetch += 1
                    if keep:
                        r.kept.append((first, rest))
                    continue
                if words[1] == b"SEARCH":
                    if r.search is None:
                        r.search = []
                    r.search.extend(int(x) for x in first[8:].split())
                    continue
                if kind == b"EXISTS":
                    r.exists = int(words[1])
                    continue
            if len(r.untagged) < 50:
                r.untagged.append(first)
        if check and not r.status[len(prefix):].startswith(b"OK"):
            raise ImapError("%s: %r" % (cmd if isinstance(cmd, str) else cmd.decode(),
                                        r.status[:300]))
        return r

    def login(self, user, password):
        return self.command("LOGIN %s %s" % (quote(user), quote(password)))

    def idle_start(self):
        """Sends IDLE and waits for the continuation. Returns the tag and
        the untagged lines that came before it."""
        tag = self.next_tag()
        self.sock.sendall(tag + b" IDLE\r\n")
        before = []
        while True:
            line = self.read_line()
            if line.startswith(b"+"):
                return tag, before
            if line.startswith(tag + b" "):
                raise ImapError("IDLE refused: %r" % line[:300])
            before.append(line)

    def idle_done(self, tag):
        """Ends IDLE; returns the untagged lines before the tagged OK."""
        self.sock.sendall(b"DONE\r\n")
        lines = []
        while True:
            line = self.read_line()
            if line.startswith(tag + b" "):
                if not line[len(tag) + 1:].startswith(b"OK"):
                    raise ImapError("IDLE ended with %r" % line[:300])
                return lines
            lines.append(line)

    def logout(self):
        try:
            self.command("LOGOUT", check=False)
        except (OSError, BenchError):
            pass
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ------------------------------------------------------- the timing clients

def build_timer(out_dir, name="imap_timer"):
    """Compiles bench/NAME.c (a C client of the timed runs: imap_timer,
    pop3_timer) into out_dir; returns its path."""
    src = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       name + ".c")
    exe = os.path.join(out_dir, name)
    argv = [os.environ.get("CC", "cc"), "-O2", "-std=gnu17", "-Wall", "-Wextra", "-pthread", src, "-o",
            exe]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise BenchError("compiling %s.c failed:\n%s\n%s" % (name, " ".join(argv), r.stderr))
    return exe


class TimerProcess:
    """A C timing client driven one stdin line at a time: ask() writes a
    line and returns the line it answers. A client that dies (it does on
    any unexpected reply) or does not answer within the timeout raises
    BenchError with what it said on stderr."""

    def __init__(self, argv, timeout=IO_TIMEOUT):
        self.timeout = timeout
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1)

    def ask(self, line):
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except OSError:
            pass  # it died: its stderr says why
        ready, _, _ = select.select([self.proc.stdout], [], [], self.timeout)
        answer = self.proc.stdout.readline() if ready else ""
        if not answer:
            self.close()
            raise BenchError("%s: no answer to %s: %s" % (
                os.path.basename(self.proc.args[0]), line.split(" ")[0], self.proc.stderr.read()))
        return answer.rstrip("\n")

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


class TimerClient(TimerProcess):
    """A logged-in plain connection driven by imap_timer: command() sends
    one command and returns a Result with elapsed, status, fetch, search
    (a list as long as the hits; the numbers themselves are not kept) and
    exists. It reads at memory speed, so what it times is the server."""

    def __init__(self, exe, port, user, password, timeout=IO_TIMEOUT):
        super().__init__([exe, HOST, str(port), user, password], timeout)

    def command(self, cmd, check=True):
        seconds, fetch, search, exists, status = self.ask(cmd).split(" ", 4)
        r = Result()
        r.elapsed = float(seconds)
        r.fetch = int(fetch)
        r.search = None if int(search) < 0 else [None] * int(search)
        r.exists = None if int(exists) < 0 else int(exists)
        r.status = status.encode()
        if check and not status.split(" ", 2)[1:2] == ["OK"]:
            raise ImapError("%s: %r" % (cmd, status[:300]))
        return r
