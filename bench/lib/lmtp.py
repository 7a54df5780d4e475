"""
An LMTP client for the delivery benchmarks (bench_lmtp.py, bench_store.py):
W connections deliver a fixed number of messages, one transaction at a time
per connection, as an MTA does.

Standard library only, plain sockets (no smtplib), so that both servers get
exactly the same bytes and every reply is checked:

    payloads = [lmtp_payload(msg) for msg in messages]      # before timing
    r = deliver(HOST, port, [DEMO_USER], payloads, connections=16, count=400)
    r["rate"], r["p50_ms"], r["p99_ms"], r["latencies"], r["client_cpu"]

One transaction: MAIL, RCPT (one per recipient) and DATA are sent in one
write when the server offers PIPELINING (RFC 2920), then the client waits
for their replies (250, 250..., 354), sends the message and waits for one
final reply per recipient. Anything but 250/354 where expected raises
LmtpError, so a run can never count a message that was not accepted.
"""

import itertools
import os
import socket
import subprocess
import tempfile
import threading
import time

from instances import IO_TIMEOUT, BenchError, Timer, percentile

SENDER = "bench@example.org"


class LmtpError(BenchError):
    """A reply other than the one a successful transaction gets."""


def lmtp_payload(msg):
    """The DATA payload for one message: line endings made CRLF, lines
    starting with "." doubled (RFC 5321 4.5.2), and the final ".". Done once
    before timing, so the client's work is not part of the measurement."""
    msg = msg.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if not msg.endswith(b"\r\n"):
        msg += b"\r\n"
    if msg.startswith(b"."):
        msg = b"." + msg
    return msg.replace(b"\r\n.", b"\r\n..") + b".\r\n"


class LmtpConnection:
    """One LMTP session: greeting and LHLO in the constructor, then
    transaction() as often as wanted, then quit()."""

    def __init__(self, host, port, timeout=IO_TIMEOUT, lhlo="bench.example.org"):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        try:
            # Small commands go out at once instead of waiting for an ACK.
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.rfile = self.sock.makefile("rb")
            self.expect(220, "greeting")
            self.sock.sendall(b"LHLO %s\r\n" % lhlo.encode())
            _, lines = self.expect(250, "LHLO")
            self.extensions = {l[4:].split(b" ")[0].upper() for l in lines[1:]}
            self.pipelining = b"PIPELINING" in self.extensions
        except BaseException:
            self.close()
            raise

    def reply(self):
        """(code, lines) of one reply, multi-line replies joined."""
        lines = []
        while True:
            line = self.rfile.readline(8192)
            if not line.endswith(b"\n"):
                raise LmtpError("connection closed or line too long after %r" % lines)
            line = line.rstrip(b"\r\n")
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                break
        try:
            return int(lines[-1][:3]), lines
        except ValueError:
            raise LmtpError("not an SMTP reply: %r" % lines[-1])

    def expect(self, code, what):
        got, lines = self.reply()
        if got != code:
            raise LmtpError("%s: expected %d, got %r" % (what, code, b" / ".join(lines)))
        return got, lines

    def transaction(self, sender, rcpts, payload):
        """Delivers one message (an lmtp_payload()) to rcpts; returns the
        final reply line of each recipient, all of them 250."""
        cmds = [b"MAIL FROM:<%s>\r\n" % sender.encode()] + \
            [b"RCPT TO:<%s>\r\n" % r.encode() for r in rcpts] + [b"DATA\r\n"]
        what = ["MAIL"] + ["RCPT %s" % r for r in rcpts]
        if self.pipelining:
            self.sock.sendall(b"".join(cmds))
            for w in what:
                self.expect(250, w)
        else:
            for c, w in zip(cmds, what):
                self.sock.sendall(c)
                self.expect(250, w)
            self.sock.sendall(cmds[-1])
        self.expect(354, "DATA")
        self.sock.sendall(payload)
        # LMTP: one reply per accepted recipient, in RCPT order.
        return [self.expect(250, "final reply for %s" % r)[1][-1] for r in rcpts]

    def quit(self):
        try:
            self.sock.sendall(b"QUIT\r\n")
            self.reply()
        except (OSError, BenchError):
            pass
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def deliver(host, port, rcpts, payloads, connections, count, timeout=IO_TIMEOUT,
            sender=SENDER):
    """connections LMTP sessions (one thread each) deliver count messages,
    taking payloads[i % len(payloads)] for the i-th; each session runs one
    transaction at a time, back to back. The clock starts when every
    session has said LHLO and stops at the last final reply.

    Returns rate (messages/s), seconds, latencies (seconds per transaction,
    MAIL to the last final reply, in message order), p50_ms, p99_ms,
    replies (the final reply lines) and client_cpu (share of one CPU the
    client process used). Raises LmtpError on any failure."""
    counter = itertools.count()
    latencies = [None] * count
    replies = [None] * count
    errors = []
    barrier = threading.Barrier(connections + 1, timeout=timeout * 3)

    def worker():
        try:
            conn = LmtpConnection(host, port, timeout)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append("connect: %s: %s" % (type(e).__name__, e))
            barrier.abort()
            return
        try:
            barrier.wait()
            while True:
                i = next(counter)  # atomic under the GIL
                if i >= count:
                    break
                t0 = time.perf_counter()
                replies[i] = conn.transaction(sender, rcpts, payloads[i % len(payloads)])
                latencies[i] = time.perf_counter() - t0
            conn.quit()
        except threading.BrokenBarrierError:
            conn.close()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append("%s: %s" % (type(e).__name__, e))
            conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for t in threads:
        t.start()
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        pass
    cpu0 = time.process_time()
    with Timer() as t:
        deadline = time.monotonic() + timeout * 3 + count * timeout
        for th in threads:
            th.join(max(0.0, deadline - time.monotonic()))
    cpu = time.process_time() - cpu0
    if errors or any(th.is_alive() for th in threads) or None in latencies:
        raise LmtpError("LMTP delivery to port %d failed: %s"
                        % (port, "; ".join(errors[:3]) or "timeout"))
    return {"rate": count / t.elapsed, "seconds": t.elapsed, "latencies": latencies,
            "p50_ms": percentile(latencies, 50) * 1e3,
            "p99_ms": percentile(latencies, 99) * 1e3,
            "replies": replies, "client_cpu": cpu / t.elapsed}


def deliver_timed(exe, host, port, rcpt, payloads, connections, count, timeout=IO_TIMEOUT,
                  sender=SENDER):
    """deliver() by the C client exe (bench/lmtp_timer.c, built with
    imap.build_timer): the same transactions, byte for byte, one recipient.
    Returns what deliver() does, but replies (the C client checks each
    one and dies on anything but 250/354, which raises LmtpError here)."""
    with tempfile.NamedTemporaryFile(prefix="lmtp-payloads-", delete=False) as f:
        for p in payloads:
            f.write(b"%d\n" % len(p))
            f.write(p)
        path = f.name
    try:
        r = subprocess.run([exe, host, str(port), str(connections), str(count), path, sender,
                            rcpt], capture_output=True, text=True,
                           timeout=timeout * 3 + count * timeout)
    finally:
        os.unlink(path)
    if r.returncode != 0:
        raise LmtpError("lmtp_timer: %s" % (r.stderr.strip() or "status %d" % r.returncode))
    lines = r.stdout.split("\n")
    head = lines[0].split()
    seconds = float(head[0])
    cpu = float(head[1].split("=")[1])
    latencies = [float(x) for x in lines[1:count + 1]]
    if len(latencies) != count:
        raise LmtpError("lmtp_timer: %d latencies for %d messages" % (len(latencies), count))
    return {"rate": count / seconds, "seconds": seconds, "latencies": latencies,
            "p50_ms": percentile(latencies, 50) * 1e3, "p99_ms": percentile(latencies, 99) * 1e3,
            "client_cpu": cpu / seconds}
