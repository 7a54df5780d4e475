"""
A raw-socket POP3 client for the POP3 benchmark (bench_pop3.py).

poplib reads a multi-line response line by line with readline() and
rebuilds each line; on a 2,000-message drain the client would cost more
than the server. This client reads with large recv() calls into one
buffer, finds line ends and terminators with bytes.find, and can keep
several commands in flight (RFC 2449 PIPELINING). Both servers get exactly
the same bytes from it. Standard library only.

    c = PopClient(port, tls=False)             # greeting read
    c.login(user, password)                    # USER/PASS
    replies = c.commands([b"LIST", b"UIDL"], multiline=[True, True])
    replies[0].status, replies[0].body         # b"+OK ...", dot-stuffed bytes
    c.commands([b"RETR %d" % i for i in ...], multiline=True, window=16, keep=False)
    c.quit()

Every read has a timeout (the socket's); any -ERR raises PopError, a
closed connection ImapError (both BenchError).

A drain is run in phases, by either client through the same call:

    d = PopTimer(exe, port, window)            # bench/pop3_timer.c (plain only)
    d = PopPhases(port, window, tls, keep)     # this client
    d.phase("login USER PASS"), d.phase("list"), d.phase("retr N"),
    d.phase("dele N"), d.phase("quit")         # -> {"seconds": ..., counts}
    d.close()

The counts (pop3_timer.c's): list, uidl (lines), messages and octets
(RETR answers and their un-stuffed size), size_mismatch (RETR answers whose
size is not LIST's), status (the last reply line). PopPhases with keep
also keeps the RETR answers (.bodies).
"""

import socket
import time

from imap import ImapClient, TimerProcess
from instances import HOST, IO_TIMEOUT, BenchError, tls_client_context


class PopError(BenchError):
    """A reply other than +OK."""


class Reply:
    __slots__ = ("status", "body")

    def __init__(self, status, body):
        self.status = status  # the first line, without CRLF
        self.body = body      # multi-line: the lines after it, up to and with ".\r\n"; or None


def unstuff(body):
    """The message a multi-line response body carries (RFC 1939 3)."""
    if body == b".\r\n":
        return b""
    lines = body[:-3].split(b"\r\n")
    return b"\r\n".join(l[1:] if l.startswith(b".") else l for l in lines[:-1]) + b"\r\n"


class PopClient:
    def __init__(self, port, tls=False, host=HOST, timeout=IO_TIMEOUT):
        sock = socket.create_connection((host, port), timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if tls:
                sock = tls_client_context().wrap_socket(sock)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self.buf = bytearray()
        self.pos = 0
        self.received = 0
        self.greeting = self._line()
        if not self.greeting.startswith(b"+OK"):
            raise PopError("unexpected greeting %r" % self.greeting[:200])

    # The buffer handling of the IMAP client (one recv() into the buffer,
    # dropping what was consumed): the same fields, so the same code.
    _fill = ImapClient._fill

    def _line(self):
        scanned = 0  # bytes after pos already searched (offsets survive _fill)
        while True:
            i = self.buf.find(b"\r\n", self.pos + scanned)
            if i >= 0:
                line = bytes(self.buf[self.pos:i])
                self.pos = i + 2
                return line
            scanned = max(0, len(self.buf) - self.pos - 1)
            self._fill()

    def _body(self, keep):
        """The rest of a multi-line response, up to and with its terminator
        (None unless keep)."""
        # The terminator may follow the status line at once.
        while len(self.buf) - self.pos < 3:
            self._fill()
        if self.buf.startswith(b".\r\n", self.pos):
            self.pos += 3
            return b".\r\n" if keep else None
        scanned = 0
        while True:
            i = self.buf.find(b"\r\n.\r\n", self.pos + scanned)
            if i >= 0:
                end = i + 5
                body = bytes(self.buf[self.pos:end]) if keep else None
                self.pos = end
                return body
            scanned = max(0, len(self.buf) - self.pos - 4)
            self._fill()

    def _reply(self, command, multiline, keep):
        status = self._line()
        if not status.startswith(b"+OK"):
            raise PopError("%r: %r" % (command[:60], status[:200]))
        return Reply(status, self._body(keep) if multiline else None)

    def commands(self, commands, multiline=False, window=1, keep=True):
        """Sends the commands, at most `window` unanswered at a time, and
        returns their replies in order. multiline: a bool for all, or one
        per command. keep=False drops the bodies (counted in .received)."""
        if isinstance(multiline, bool):
            multiline = [multiline] * len(commands)
        replies = []
        sent = 0
        while len(replies) < len(commands):
            # Refill once half the window is answered: one send for many
            # commands (window 1: strictly one at a time).
            if sent < len(commands) and sent - len(replies) <= window // 2:
                upto = min(len(commands), len(replies) + window)
                self.sock.sendall(b"".join(c + b"\r\n" for c in commands[sent:upto]))
                sent = upto
            k = len(replies)
            replies.append(self._reply(commands[k], multiline[k], keep))
        return replies

    def login(self, user, password):
        self.commands([b"USER " + user.encode(), b"PASS " + password.encode()])

    def quit(self):
        r = self.commands([b"QUIT"])[0]
        self.sock.close()
        return r

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class PopTimer(TimerProcess):
    """A drain by bench/pop3_timer.c (build_timer(dir, "pop3_timer")): it
    reads at memory speed, so what it times is the server."""

    def __init__(self, exe, port, window, timeout=IO_TIMEOUT):
        super().__init__([exe, HOST, str(port), str(window)], timeout)

    def phase(self, line):
        seconds, rest = self.ask(line).split(" ", 1)
        counts, status = rest.split(" status=", 1)
        out = {k: int(v) for k, v in (kv.split("=") for kv in counts.split())}
        out.update(seconds=float(seconds), status=status.encode())
        return out


class PopPhases:
    """The same phases over PopClient: the checked drains (keep=True keeps
    every RETR answer in .bodies) and --tls."""

    def __init__(self, port, window, tls=False, keep=False, timeout=IO_TIMEOUT):
        self.port, self.window, self.tls, self.keep = port, window, tls, keep
        self.timeout = timeout
        self.client = None
        self.sizes = {}
        self.bodies = []

    def phase(self, line):
        words = line.split()
        out = dict(list=0, uidl=0, messages=0, octets=0, size_mismatch=0)
        t0 = time.perf_counter()
        if words[0] == "login":
            self.client = PopClient(self.port, tls=self.tls, timeout=self.timeout)
            replies = self.client.commands([b"USER " + words[1].encode(),
                                            b"PASS " + words[2].encode()])
        elif words[0] == "list":
            replies = self.client.commands([b"LIST", b"UIDL"], multiline=True,
                                           window=self.window)
        elif words[0] in ("retr", "dele"):
            verb = words[0].upper().encode()
            replies = self.client.commands([b"%s %d" % (verb, i)
                                            for i in range(1, int(words[1]) + 1)],
                                           multiline=words[0] == "retr", window=self.window,
                                           keep=self.keep)
        elif words[0] == "quit":
            replies = [self.client.quit()]
        else:
            raise BenchError("unknown phase %r" % line)
        out.update(seconds=time.perf_counter() - t0, status=replies[-1].status)
        if words[0] == "list":
            for key, r in zip(("list", "uidl"), replies):
                lines = r.body.split(b"\r\n")[:-2]
                out[key] = len(lines)
                if key == "list":
                    self.sizes = {int(a): int(b) for a, b in (x.split() for x in lines)}
        elif words[0] == "retr" and self.keep:
            for i, r in enumerate(replies, 1):
                size = len(unstuff(r.body))
                out["messages"] += 1
                out["octets"] += size
                out["size_mismatch"] += self.sizes.get(i) != size
                self.bodies.append(r.body)
        elif words[0] == "retr":
            out["messages"] = len(replies)
            out["octets"] = None  # not kept: not counted
        return out

    def close(self):
        if self.client is not None:
            self.client.close()
