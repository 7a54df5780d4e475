"""SIGKILL petrel-lmtpd during 1,000 pipelined deliveries.

Four connections pipeline transactions as fast as the server takes them;
lmtpd is killed with SIGKILL part-way. Every message that got its 250 must
be in the store exactly once, with the UID the reply named. A message the
client never got a 250 for may be present only if its final dot had been
sent (its commit can complete before the reply reaches the socket: RFC 5321
6.1 prefers a duplicate to a loss, so the MTA will send it again); the test
counts those and bounds them by the deliveries that were in flight.
"""

import collections
import re
import signal
import socket
import threading
import time

from conftest import USER
from lmtp_helpers import listing, lmtp_overrides

TOTAL = 1000
CONNECTIONS = 4


ACK = re.compile(rb"250 2\.0\.0 <[^>]+> Saved \(uid (\d+)\)")


def sender(port, conn_no, per_conn, acks, dotted, stop):
    """Pipelines transactions; the k-th 250 on this connection is for the
    k-th message whose dot was sent (replies come in order)."""
    mine = dotted[conn_no]
    acked = 0

    def take(line):
        nonlocal acked
        m = ACK.match(line)
        if m:
            acks.append((mine[acked], int(m.group(1))))
            acked += 1
        return m is not None

    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    f = s.makefile("rb")
    try:
        f.readline()
        s.sendall(b"LHLO crash.test\r\n")
        while not f.readline().startswith(b"250 "):
            pass
        for i in range(per_conn):
            if stop.is_set():
                break
            subject = ("m%d-%d" % (conn_no, i)).encode()
            s.sendall(b"MAIL FROM:<a@sender.test>\r\nRCPT TO:<%s>\r\nDATA\r\n" % USER.encode())
            while True:  # replies to earlier messages may come first
                line = f.readline()
                if not line:
                    return
                if not take(line) and line.startswith(b"354"):
                    break
            s.sendall(b"Subject: %s\r\n\r\nbody of %s\r\n.\r\n" % (subject, subject))
            mine.append(subject.decode())
        for line in f:
            take(line)
    except OSError:
        return
    finally:
        s.close()


def test_sigkill_during_1000_pipelined_deliveries(make_sandbox):
    sb = make_sandbox(lmtp_overrides(None, {("lmtp", "check_spf"): "no",
                                            ("lmtp", "check_dkim"): "no",
                                            ("lmtp", "check_dmarc"): "no"})).start("lmtpd")
    acks = []  # (subject, uid), appended by the sender threads
    dotted = collections.defaultdict(list)  # subjects whose final dot was sent, per connection
    stop = threading.Event()
    threads = [threading.Thread(target=sender, args=(sb.ports["lmtp"], n, TOTAL // CONNECTIONS, acks,
                                                     dotted, stop)) for n in range(CONNECTIONS)]
    for t in threads:
        t.start()
    # Kill once a good part of the deliveries was acknowledged.
    deadline = time.monotonic() + 60
    while len(acks) < TOTAL // 3 and time.monotonic() < deadline:
        time.sleep(0.005)
    proc = sb.procs.pop("lmtpd")
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    stop.set()
    for t in threads:
        t.join(30)
    assert len(acks) >= TOTAL // 3

    stored = listing(sb)
    by_subject = collections.Counter(subject for _, subject in stored)
    uid_of = {subject: uid for uid, subject in stored}
    for subject, uid in acks:
        assert by_subject[subject] == 1, "acknowledged %s stored %d times" % (subject, by_subject[subject])
        assert uid_of[subject] == uid
    assert all(n == 1 for n in by_subject.values()), "a message stored twice"
    acked = {s for s, _ in acks}
    sent = {s for lst in dotted.values() for s in lst}
    unacked_present = set(by_subject) - acked
    # Nothing that was never completely sent is visible.
    assert unacked_present <= sent, unacked_present - sent
    # Only deliveries in flight at the kill may be present without a 250:
    # at most one per connection per commit batch in progress.
    assert len(unacked_present) <= 8 * CONNECTIONS, unacked_present
    print("acked %d, present without ack %d" % (len(acked), len(unacked_present)))
    # The store is consistent after the crash (no half-written message).
    out = sb.ctl("store", "check", USER)
    assert "1 user(s) checked" in out.stdout
