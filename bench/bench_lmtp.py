#!/usr/bin/python3
"""
LMTP delivery benchmark: petrel-lmtpd next to Dovecot 2.3's LMTP (Maildir,
mail_fsync = always), both over TCP on 127.0.0.1, from the same client.

For each message size (4 KB and 100 KB by default) and each number of
concurrent connections (1, 4 and 16), every connection runs transactions
back to back, one at a time, as an MTA does (MAIL, RCPT, DATA pipelined,
wait for 354, message, wait for the final 250), until a fixed number of
messages has been delivered. Reported: messages/s, p50 and p99 latency of
one transaction, and the servers' CPU time per message. Every reply must be
250 (354 for DATA), and the messages stored are counted after every run and
at the end, so lost mail fails the benchmark instead of inflating it.

Target (LMTP issue): at least 2x Dovecot's messages/s at 16 connections.

    sudo /usr/bin/python3 bench/bench_lmtp.py --build-dir build [--connections 1,4,16]
         [--count-4k 400] [--count-100k 200] [--warmup 4] [--rounds 3] [--quick]
"""

import argparse
import configparser
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(BENCH_DIR, "lib"))

from instances import (BenchError, DovecotInstance, PetrelInstance,  # noqa: E402
                       cpu_seconds, environment, log, report)
import lmtp  # noqa: E402
from imap import build_timer  # noqa: E402

TARGET_RATIO = 2.0  # messages/s against Dovecot, at TARGET_CONNECTIONS
TARGET_CONNECTIONS = 16

# Equal work on both sides. Petrel: no SPF/DKIM/DMARC (Dovecot's LMTP does
# none) and no per-delivery info log line.
PETREL_OVERRIDES = {
    ("server", "log_level"): "warning",
    ("lmtp", "check_spf"): "no",
    ("lmtp", "check_dkim"): "no",
    ("lmtp", "check_dmarc"): "no",
}
# Dovecot has no log level: the per-delivery "saved mail to INBOX" line is
# not even formatted with an empty deliver_log_format, and the remaining
# info lines (connect/disconnect) go to /dev/null. Errors and warnings still
# reach dovecot.log (log_path).
DOVECOT_EXTRA_CONF = """\
deliver_log_format =
info_log_path = /dev/null
"""


# --------------------------------------------------------------- messages

WORDS = ("the of and to in is that for it as with was on be by at this from or "
         "have an are not but which all were when we there can been one will "
         "delivery mailbox message server durable commit queue transaction "
         "recipient sender header body envelope maildir index storage").split()


def text_pool(seed, nbytes=256 * 1024):
    """Deterministic text lines (CRLF, at most 76 characters, never starting
    with "."), about nbytes in all, from which message bodies are cut."""
    rng = random.Random(seed)
    vocab = WORDS + ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz")
                             for _ in range(rng.randint(3, 11))) for _ in range(2000)]
    lines, size = [], 0
    while size < nbytes:
        words, n = [], 0
        while n < 60:
            w = rng.choice(vocab)
            words.append(w)
            n += len(w) + 1
        line = (" ".join(words)[:76] + "\r\n").encode()
        lines.append(line)
        size += len(line)
    return lines


def make_message(size, i, pool):
    """Message i of a given size: exactly size bytes (CRLF), a header as an
    MTA would pass it on, and a text body that depends only on (seed, i)."""
    label = "%dk" % (size // 1024)
    header = ("Received: from mx.example.org (mx.example.org [192.0.2.25])\r\n"
              "\tby petrel-bench with ESMTPS id bench%s%06d; Mon, 24 Nov 2025 10:00:00 +0000\r\n"
              "From: Bench Sender <%s>\r\n"
              "To: Demo <demo@example.test>\r\n"
              "Subject: bench_lmtp message %d (%s)\r\n"
              "Date: Mon, 24 Nov 2025 10:00:00 +0000\r\n"
              "Message-ID: <bench-%s-%d@example.org>\r\n"
              "MIME-Version: 1.0\r\n"
              "Content-Type: text/plain; charset=us-ascii\r\n"
              "\r\n" % (label, i, lmtp.SENDER, i, label, label, i)).encode()
    body, need = [], size - len(header)
    k = (i * 7919) % len(pool)
    while need > 0:
        line = pool[k % len(pool)]
        if len(line) > need or need - len(line) == 1:
            # Last line: cut to fit exactly, still CRLF-terminated.
            line = line[:max(0, need - 2)] + b"\r\n"
        body.append(line)
        need -= len(line)
        k += 1
    msg = header + b"".join(body)
    assert len(msg) == size, (len(msg), size)
    return msg


def payloads_for(size, count, start, pool):
    """count DATA payloads (dot-stuffed, terminated), messages start..start+count-1."""
    return [lmtp.lmtp_payload(make_message(size, start + i, pool)) for i in range(count)]


# --------------------------------------------------------------- servers

def maildir_count(maildir):
    """Message files in a Maildir's new/ and cur/."""
    return sum(len(os.listdir(os.path.join(maildir, sub))) for sub in ("new", "cur"))


class Server:
    """One side of the benchmark: its LMTP port, CPU accounting over its
    processes, and the count of stored messages."""

    def __init__(self, name, inst, maildir):
        self.name = name
        self.inst = inst
        self.maildir = maildir
        self.delivered = 0  # messages acknowledged with 250, warm-up included
        self.results = {}   # (size, connections) -> result dict

    def stored(self):
        return maildir_count(self.maildir)

    def pids(self):
        return self.inst.pids()

    def run(self, size, connections, payloads, timeout, exe=None):
        """One measured run (by the C client exe, or the Python client if
        None); checks that exactly len(payloads) messages were stored by it."""
        before = self.stored()
        cpu0 = cpu_seconds(self.pids())
        try:
            if exe is not None:
                r = lmtp.deliver_timed(exe, self.inst.host, self.inst.ports["lmtp"],
                                       self.inst.user, payloads, connections, len(payloads),
                                       timeout)
            else:
                r = lmtp.deliver(self.inst.host, self.inst.ports["lmtp"], [self.inst.user],
                                 payloads, connections, len(payloads), timeout)
        except lmtp.LmtpError as e:
            raise BenchError("%s: %s\n%s" % (self.name, e, self.inst.log_tail(15)))
        r["server_cpu"] = cpu_seconds(self.pids()) - cpu0
        self.delivered += len(payloads)
        stored = self.stored() - before
        if stored != len(payloads):
            raise BenchError("%s acknowledged %d messages but stored %d in %s"
                             % (self.name, len(payloads), stored, self.maildir))
        return r


class PetrelServer(Server):
    def __init__(self, inst, build_dir):
        cp = configparser.ConfigParser(interpolation=None, strict=False)
        cp.read(inst.conf)
        data_dir = cp.get("server", "data_dir")
        super().__init__("Petrel", inst, os.path.join(data_dir, "users", inst.user, "Maildir"))
        self.store_tool = os.path.join(build_dir, "tests/tools/petrel-test-store")

    def pids(self):
        return self.inst.pids("lmtp")

    def indexed(self):
        """Messages in INBOX according to Petrel's index (petrel-test-store
        list), or None if the tool is not built."""
        if not os.access(self.store_tool, os.X_OK):
            return None
        r = subprocess.run([self.store_tool, "list", self.inst.conf, self.inst.user, "INBOX"],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise BenchError("petrel-test-store list failed (status %d): %s"
                             % (r.returncode, r.stderr))
        return len(r.stdout.splitlines())


# --------------------------------------------------------------- running

def check_final(servers):
    """Every acknowledged message is in the Maildir (and, for Petrel, in the
    index); nothing more, nothing less."""
    notes = []
    for srv in servers:
        files = srv.stored()
        if files != srv.delivered:
            raise BenchError("%s: %d messages acknowledged, %d files in %s"
                             % (srv.name, srv.delivered, files, srv.maildir))
        line = "%s %d files in Maildir new/+cur/" % (srv.name, files)
        if isinstance(srv, PetrelServer):
            indexed = srv.indexed()
            if indexed is None:
                line += " (petrel-test-store not built: index not checked)"
            elif indexed != srv.delivered:
                raise BenchError("Petrel: %d messages acknowledged, %d in the INBOX index"
                                 % (srv.delivered, indexed))
            else:
                line += ", %d in the INBOX index (petrel-test-store list)" % indexed
        notes.append(line)
    return "stored = acknowledged (warm-up included): " + "; ".join(notes)


def run_all(args, pool, exe):
    most = max(args.connections)
    with PetrelInstance(args.build_dir, services=["lmtp"], max_clients=most + 10,
                        overrides=PETREL_OVERRIDES) as pinst, \
            DovecotInstance(protocols=("lmtp",), max_clients=most + 10,
                            extra_conf=DOVECOT_EXTRA_CONF) as dinst:
        if "lmtp" not in pinst.procs:
            raise BenchError("petrel-lmtpd is not running: %s" % pinst.skipped.get("lmtp"))
        petrel = PetrelServer(pinst, args.build_dir)
        dovecot = Server("Dovecot", dinst, os.path.join(dinst.dir, "home", dinst.user,
                                                        "Maildir"))
        servers = (petrel, dovecot)
        next_id = 0  # message numbers: every message delivered is different

        # Warm-up: the most connections at once, so that Dovecot has forked
        # its lmtp processes and both have touched their code and indexes.
        if args.warmup:
            for size, _ in args.sizes:
                n = args.warmup * most
                payloads = payloads_for(size, n, next_id, pool)
                next_id += n
                for srv in servers:
                    log("warm-up: %s, %d x %d KB on %d connections"
                        % (srv.name, n, size // 1024, most))
                    srv.run(size, most, payloads, args.timeout, exe)

        # Measured runs: both servers run all the time and are measured in
        # turn, each row args.rounds times; who goes first alternates from
        # one round to the next. A row reports each server's median round
        # (by msgs/s; its latency and CPU come from that same round).
        k = 0
        for size, count in args.sizes:
            for conns in args.connections:
                rounds = {srv.name: [] for srv in servers}
                for _ in range(args.rounds):
                    payloads = payloads_for(size, count, next_id, pool)
                    next_id += count
                    for srv in (servers if k % 2 == 0 else servers[::-1]):
                        r = srv.run(size, conns, payloads, args.timeout, exe)
                        rounds[srv.name].append(r)
                        log("%s %3d KB x %2d conns: %d msgs, %6.0f msgs/s, p50 %6.2f ms, p99 "
                            "%6.2f ms, server CPU %3.0f%% of one CPU, client %3.0f%%"
                            % (srv.name.ljust(7), size // 1024, conns, count, r["rate"],
                               r["p50_ms"], r["p99_ms"], 100 * r["server_cpu"] / r["seconds"],
                               100 * r["client_cpu"]))
                    k += 1
                for srv in servers:
                    by_rate = sorted(rounds[srv.name], key=lambda r: r["rate"])
                    srv.results[(size, conns)] = dict(by_rate[len(by_rate) // 2],
                                                      round_rates=[r["rate"] for r in
                                                                   rounds[srv.name]])
        stored_note = check_final(servers)
        dovecot_procs = len(dinst.pids("lmtp"))
    return petrel, dovecot, stored_note, dovecot_procs


# --------------------------------------------------------------- report

def build_rows(args, petrel, dovecot):
    rows = []
    for size, count in args.sizes:
        for conns in args.connections:
            p, d = petrel.results[(size, conns)], dovecot.results[(size, conns)]
            label = "%d KB x %d conn%s" % (size // 1024, conns, "" if conns == 1 else "s")
            rows.append(("%s: msgs/s" % label, p["rate"], d["rate"], "higher"))
            rows.append(("%s: p50 ms" % label, p["p50_ms"], d["p50_ms"], "lower"))
            rows.append(("%s: p99 ms" % label, p["p99_ms"], d["p99_ms"], "lower"))
            rows.append(("%s: server CPU ms/msg" % label, 1e3 * p["server_cpu"] / count,
                         1e3 * d["server_cpu"] / count, "lower"))
    return rows


def target_note(args, petrel, dovecot):
    if TARGET_CONNECTIONS not in args.connections:
        return "target (>= %.0fx Dovecot msgs/s at %d connections): not measured in this run" \
            % (TARGET_RATIO, TARGET_CONNECTIONS)
    parts, met = [], True
    for size, _ in args.sizes:
        p, d = petrel.results[(size, TARGET_CONNECTIONS)], dovecot.results[(size, TARGET_CONNECTIONS)]
        r = p["rate"] / d["rate"]
        met = met and r >= TARGET_RATIO
        part = "%d KB %.2fx" % (size // 1024, r)
        if len(p["round_rates"]) > 1:
            part += " (rounds: Petrel %s, Dovecot %s msgs/s)" % (
                "/".join("%.0f" % x for x in p["round_rates"]),
                "/".join("%.0f" % x for x in d["round_rates"]))
        parts.append(part)
    return "target: >= %.0fx Dovecot msgs/s at %d connections: %s -> %s" % (
        TARGET_RATIO, TARGET_CONNECTIONS, ", ".join(parts), "MET" if met else "NOT MET")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", required=True, help="Petrel build directory")
    ap.add_argument("--connections", default="1,4,16",
                    help="concurrent LMTP connections, comma-separated (default 1,4,16)")
    ap.add_argument("--count-4k", type=int, default=400,
                    help="4 KB messages per run (default 400; 0 skips the size)")
    ap.add_argument("--count-100k", type=int, default=200,
                    help="100 KB messages per run (default 200; 0 skips the size)")
    ap.add_argument("--warmup", type=int, default=4,
                    help="unmeasured messages per connection and size before the runs, at the "
                    "largest connection count (default 4; 0 skips)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="runs per (size, connections) and server; the median is reported "
                    "(default 3)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: --count-4k 80 --count-100k 40 --warmup 1 --rounds 1")
    ap.add_argument("--seed", type=int, default=1, help="message text seed (default 1)")
    ap.add_argument("--timeout", type=float, default=30.0,
                    help="seconds for one socket operation (default 30)")
    ap.add_argument("--python-client", action="store_true",
                    help="deliver with the Python client lib/lmtp.py instead of bench/lmtp_timer.c "
                    "(as runs before 2026-11-24 did)")
    args = ap.parse_args()
    if args.quick:
        args.count_4k, args.count_100k, args.warmup, args.rounds = 80, 40, 1, 1
    try:
        args.connections = [int(c) for c in args.connections.split(",") if c.strip()]
    except ValueError:
        ap.error("--connections takes numbers like 1,4,16")
    args.sizes = [(s, n) for s, n in ((4096, args.count_4k), (102400, args.count_100k)) if n]
    if not args.connections or any(c < 1 for c in args.connections) or not args.sizes or \
            args.count_4k < 0 or args.count_100k < 0 or args.warmup < 0 or args.rounds < 1:
        ap.error("connections must be >= 1, counts and --warmup >= 0, not both counts 0, "
                 "--rounds >= 1")
    if os.geteuid() != 0:
        print("bench_lmtp: run as root (Dovecot starts as root)", file=sys.stderr)
        return 1

    def on_term(*_):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        sys.exit(143)  # unwinds the with blocks: both servers are stopped

    signal.signal(signal.SIGTERM, on_term)
    args.build_dir = os.path.abspath(args.build_dir)
    timer_dir = tempfile.mkdtemp(prefix="petrel-bench-lmtp-timer-")
    try:
        exe = None if args.python_client else build_timer(timer_dir, "lmtp_timer")
        petrel, dovecot, stored_note, dovecot_procs = run_all(args, text_pool(args.seed), exe)
    except BenchError as e:
        print("bench_lmtp: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # the servers are already stopped (with blocks)
        print("bench_lmtp: interrupted", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(timer_dir, ignore_errors=True)

    cpu = max(r["client_cpu"] for srv in (petrel, dovecot) for r in srv.results.values())
    notes = [
        environment(),
        target_note(args, petrel, dovecot),
        "each connection: LHLO once, then transactions back to back, one at a time (MAIL, "
        "RCPT and DATA pipelined, wait for 354, message, wait for the final 250), one "
        "recipient (demo@example.test, INBOX); msgs/s from the moment every connection has "
        "said LHLO to the last final reply; latency from MAIL to the final reply",
        "runs: %s per (size, connections), %d round%s each, the median round reported; "
        "warm-up %d msgs per connection and size at %d connections; both servers running, "
        "measured in turn, order alternating per round; every message different "
        "(Message-ID, body); the mailbox grows across runs"
        % (", ".join("%d x %d KB" % (n, s // 1024) for s, n in args.sizes), args.rounds,
           "" if args.rounds == 1 else "s", args.warmup, max(args.connections)),
        "durable on both sides: Petrel answers 250 after fsync of the file, its directory "
        "and the LMDB index (group commit across concurrent deliveries, [server] "
        "worker_threads threads); Dovecot mail_fsync = always, one lmtp process per "
        "connection (%d lmtp processes at the end); Petrel stores CRLF, Dovecot LF"
        % dovecot_procs,
        "equal work: Petrel [lmtp] check_spf/check_dkim/check_dmarc = no (Dovecot's LMTP "
        "does no SPF/DKIM/DMARC), [server] log_level = warning; Dovecot deliver_log_format "
        "empty, info_log_path = /dev/null; still different: Petrel parses every message on "
        "delivery (MIME, ENVELOPE/BODYSTRUCTURE cache, search text, word index), Dovecot "
        "without FTS only writes the file",
        "server CPU: user+system time of petrel-lmtpd (all threads) and of the whole "
        "Dovecot process tree (master, lmtp, auth, log, ...); the %s used up to "
        "%.0f%% of one CPU on the same machine" % (
            "Python client (--python-client)" if args.python_client else
            "C client bench/lmtp_timer.c (the same transactions, byte for byte; the Python "
            "client's interpreter lock capped it near 5,000 msgs/s and took a fifth of the "
            "machine)", cpu * 100),
        stored_note,
    ]
    report("bench_lmtp: LMTP delivery over TCP, petrel-lmtpd vs Dovecot %s LMTP"
           % dovecot.inst.version, build_rows(args, petrel, dovecot), notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
