#!/usr/bin/python3
"""
POP3 benchmark: petrel-pop3d next to Dovecot 2.3's pop3, in the same run,
on the same mailbox (gen_corpus.py messages delivered over LMTP to both,
the filled mailboxes of bench_imap.py, shared through its cache).

A full drain of a --messages mailbox (default 2,000), as a POP3 client
that does not leave mail on the server does it: login (USER/PASS), LIST,
UIDL, RETR of every message, DELE of every message, QUIT (the UPDATE
state, which expunges them all). Every run starts from a fresh copy of
the mailboxes as LMTP left them, so each server pays what its first
session after delivery pays. Measured: the time of each phase and of the
whole drain (from connecting to QUIT's +OK), median of --repeat runs,
alternating which server goes first; once one command at a time (as
fetchmail does) and once with --window commands in flight (RFC 2449
PIPELINING, which both servers announce).

Checks: every message RETR returns is, after the server's own trace
fields, a corpus message, each once; QUIT says messages were deleted; the
Maildir is empty afterwards.

Target (POP3 issue): the drain at least 2x faster than Dovecot.

    sudo /usr/bin/python3 bench/bench_pop3.py --build-dir build [--messages 2000]
         [--repeat 5] [--window 16] [--tls]
"""

import argparse
import hashlib
import os
import signal
import statistics
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(BENCH_DIR, "lib"))
sys.path.insert(0, BENCH_DIR)

from instances import BenchError, environment, log, report  # noqa: E402
from pop3 import PopClient, unstuff  # noqa: E402
from bench_imap import (CACHE_DIR, dovecot_instance, ensure_corpus, ensure_filled,  # noqa: E402
                        maildir_count, petrel_instance, strip_trace)

TARGET_SPEEDUP = 2.0
PHASES = ("login", "list_uidl", "retr", "dele", "quit")
PHASE_LABELS = {
    "login": "connect + USER/PASS",
    "list_uidl": "LIST + UIDL",
    "retr": "RETR every message",
    "dele": "DELE every message",
    "quit": "QUIT (expunge all)",
}


def corpus_digests(corpus):
    """{sha256 of a corpus message as delivered (CRLF, final CRLF): index}"""
    digests = {}
    for i in range(corpus["count"]):
        with open(os.path.join(corpus["dir"], "cur", "%07d.corpus:2," % i), "rb") as f:
            data = f.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        if not data.endswith(b"\r\n"):
            data += b"\r\n"
        digests[hashlib.sha256(data).digest()] = i
    return digests


def drain(inst, args, n, window, keep):
    """One full drain: ({phase: seconds}, the RETR bodies (keep) or None,
    bytes received)."""
    times = {}
    t0 = time.perf_counter()
    c = PopClient(inst.ports["pop3s" if args.tls else "pop3"], tls=args.tls,
                  timeout=args.timeout)
    try:
        c.login(inst.user, inst.password)
        t1 = time.perf_counter()
        lst, uidl = c.commands([b"LIST", b"UIDL"], multiline=True, window=window)
        t2 = time.perf_counter()
        count = lst.body.count(b"\r\n") - 1
        if count != n or uidl.body.count(b"\r\n") - 1 != n:
            raise BenchError("%s: LIST/UIDL list %d/%d messages, not %d"
                             % (inst.name, count, uidl.body.count(b"\r\n") - 1, n))
        retr = c.commands([b"RETR %d" % i for i in range(1, n + 1)], multiline=True,
                          window=window, keep=keep)
        t3 = time.perf_counter()
        c.commands([b"DELE %d" % i for i in range(1, n + 1)], window=window)
        t4 = time.perf_counter()
        bye = c.quit()
        t5 = time.perf_counter()
    except BenchError as e:
        raise BenchError("%s: %s\n%s" % (inst.name, e, inst.log_tail(15)))
    finally:
        c.close()
    if b"deleted" not in bye.status:
        raise BenchError("%s: QUIT answered %r" % (inst.name, bye.status))
    times.update(login=t1 - t0, list_uidl=t2 - t1, retr=t3 - t2, dele=t4 - t3, quit=t5 - t4,
                 total=t5 - t0)
    return times, ([r.body for r in retr] if keep else None), c.received


def verify(inst, bodies, digests, n):
    """Each RETR answer is a corpus message after the trace fields; each once."""
    seen = set()
    bad = 0
    for body in bodies:
        msg = strip_trace(unstuff(body))
        i = digests.get(hashlib.sha256(msg).digest())
        if i is None:
            bad += 1
        else:
            seen.add(i)
    if bad or len(seen) != n:
        raise BenchError("%s: %d RETR answers are not corpus messages; %d distinct of %d"
                         % (inst.name, bad, len(seen), n))


def empty_after(inst, maildir):
    left = maildir_count(maildir)
    if left != 0:
        raise BenchError("%s: %d messages left in the Maildir after the drain" % (inst.name, left))


def run_round(args, n, fill, window, first_petrel, keep, digests):
    with petrel_instance(args, fill, ["pop3"]) as p, dovecot_instance(args, fill, ("pop3",)) as d:
        if "pop3" not in p.procs:
            raise BenchError("petrel-pop3d is not running: %s" % p.skipped.get("pop3"))
        maildirs = {p.name: os.path.join(p.data_dir, "users", p.user, "Maildir"),
                    d.name: d.maildir}
        out = {}
        for inst in ((p, d) if first_petrel else (d, p)):
            times, bodies, nbytes = drain(inst, args, n, window, keep)
            if bodies is not None:
                verify(inst, bodies, digests, n)
            empty_after(inst, maildirs[inst.name])
            times["bytes"] = nbytes
            out[inst.name] = times
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", required=True, help="Petrel build directory")
    ap.add_argument("--messages", type=int, default=2000,
                    help="messages in the mailbox (default 2000)")
    ap.add_argument("--repeat", type=int, default=5,
                    help="measured drains per server and mode, median reported (default 5)")
    ap.add_argument("--window", type=int, default=16,
                    help="commands in flight in the pipelined mode (default 16)")
    ap.add_argument("--tls", action="store_true",
                    help="drain over implicit TLS (:995) instead of plain :110")
    ap.add_argument("--cache-dir", default=CACHE_DIR,
                    help="corpus and filled mailboxes, shared with bench_imap.py (default %s)"
                    % CACHE_DIR)
    ap.add_argument("--refill", action="store_true",
                    help="generate the corpus and fill the mailboxes again")
    ap.add_argument("--seed", type=int, default=1, help="corpus seed (default 1)")
    ap.add_argument("--timeout", type=float, default=60.0,
                    help="seconds for one socket operation (default 60)")
    args = ap.parse_args()
    if args.messages < 100 or args.repeat < 1 or args.window < 1:
        ap.error("--messages >= 100, --repeat >= 1, --window >= 1")
    if os.geteuid() != 0:
        print("bench_pop3: run as root (Dovecot starts as root)", file=sys.stderr)
        return 1
    args.dovecot_imap_model = "default"  # for bench_imap.dovecot_instance

    def on_term(*_):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        sys.exit(143)  # unwinds the with blocks: the servers are stopped

    signal.signal(signal.SIGTERM, on_term)
    args.build_dir = os.path.abspath(args.build_dir)
    os.makedirs(args.cache_dir, exist_ok=True)
    n = args.messages
    modes = (("sequential", 1), ("pipelined", args.window))
    results = {mode: {"Petrel": [], "Dovecot": []} for mode, _ in modes}
    loads = []
    try:
        corpus = ensure_corpus(args.cache_dir, n, args.seed, args.refill)
        fill = ensure_filled(args, corpus)
        digests = corpus_digests(corpus)
        loads.append(os.getloadavg()[0])
        # One unmeasured round per mode, with every message checked.
        for mode, window in modes:
            run_round(args, n, fill, window, True, True, digests)
            log("%s: checked round done (every RETR answer is a corpus message)" % mode)
        for rnd in range(args.repeat):
            for k, (mode, window) in enumerate(modes):
                r = run_round(args, n, fill, window, (rnd + k) % 2 == 0, False, digests)
                for name in r:
                    results[mode][name].append(r[name])
                log("round %d/%d %s: drain s Petrel %.3f, Dovecot %.3f" % (
                    rnd + 1, args.repeat, mode, r["Petrel"]["total"], r["Dovecot"]["total"]))
        loads.append(os.getloadavg()[0])
    except BenchError as e:
        print("bench_pop3: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench_pop3: interrupted", file=sys.stderr)
        return 130

    def med(mode, name, key):
        return statistics.median(r[key] for r in results[mode][name])

    rows = []
    for mode, window in modes:
        label = "%s (%s)" % (mode, "1 command at a time" if window == 1
                             else "%d in flight" % window)
        rows.append(("%s: full drain of %s msgs, s" % (label, "{:,}".format(n)),
                     med(mode, "Petrel", "total"), med(mode, "Dovecot", "total"), "lower"))
        for phase in PHASES:
            rows.append(("  %s, ms" % PHASE_LABELS[phase], med(mode, "Petrel", phase) * 1e3,
                         med(mode, "Dovecot", phase) * 1e3, "lower"))
        rows.append(("  messages/s (RETR phase)", n / med(mode, "Petrel", "retr"),
                     n / med(mode, "Dovecot", "retr"), "higher"))
        rows.append(("  bytes received", med(mode, "Petrel", "bytes"),
                     med(mode, "Dovecot", "bytes"), None))
    speedups = {mode: med(mode, "Dovecot", "total") / med(mode, "Petrel", "total")
                for mode, _ in modes}
    notes = [environment()]
    notes.append("load average (1 min) at the start and the end: %.1f, %.1f"
                 % (loads[0], loads[-1]))
    notes.append(
        "%s msgs: gen_corpus.py seed %d (%.0f bytes/msg on average), delivered over LMTP to "
        "each server (filled %s), copied from %s into fresh instances for every drain; "
        "%s; %d measured drains per server and mode after one checked drain, alternating which "
        "server goes first, median; Python raw-socket client on the same machine"
        % ("{:,}".format(n), args.seed, corpus["bytes"] / n, fill["date"], fill["path"],
           "implicit TLS :995" if args.tls else "plain :110 (plaintext logins allowed on both)",
           args.repeat))
    notes.append("Dovecot: one pop3 process per session (pop3-login in high-security mode), "
                 "mail_fsync = always, Maildir with its index as LMTP left it; Petrel: "
                 "petrel-pop3d, one process")
    notes.append("target (POP3 issue): full drain >= %.0fx faster than Dovecot: %s" % (
        TARGET_SPEEDUP, ", ".join("%s %.2fx %s" % (mode, s, "met" if s >= TARGET_SPEEDUP
                                                    else "NOT met")
                                  for mode, s in speedups.items())))
    if fill.get("stale_note"):
        notes.append(fill["stale_note"])
    report("POP3: full drain (LIST, UIDL, RETR all, DELE all, QUIT), Petrel vs Dovecot",
           rows, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
