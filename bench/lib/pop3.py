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
"""

import socket

from imap import ImapClient
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
