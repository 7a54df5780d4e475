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
session after delivery pays. Measured: the time and the server CPU of each
phase and of the whole drain, median of --repeat runs, alternating which
server goes first; once one command at a time (as fetchmail does) and
once with --window commands in flight (RFC 2449 PIPELINING, which both
servers announce).

The timed drains are made by a C client (bench/pop3_timer.c, compiled
into the cache directory), which reads at memory speed; the Python client
would be a large part of the time. Checks: in one drain per server and
mode by the Python client, every message RETR returns is, after the
server's own trace fields, a corpus message, each once; in every drain,
LIST and UIDL list every message, every RETR answer is terminated and of
the size LIST gave, all of them as many octets as in the checked drain,
QUIT says messages were deleted, and the Maildir is empty afterwards.
Petrel removes the files of expunged messages just after it answers (its
graveyard, store/graveyard.c), Dovecot before: the time until the Maildir
is empty is reported beside QUIT's, and QUIT's server CPU runs until then
on both.

Target (POP3 issue): the drain at least 2x faster than Dovecot.

A sequential drain is 2N+5 round trips (USER, PASS, LIST, UIDL, N RETR,
N DELE, QUIT), and on a VM a loopback round trip costs 100-200 us of
wake-ups whatever the server does. So after each sequential round the C
client also times the same number of round trips to a server that does
nothing (`pop3_timer --floor`: a child process answering each line from
an epoll loop). That time is the least any server can take for a
sequential drain here; the report gives it and the best ratio it allows.

    sudo /usr/bin/python3 bench/bench_pop3.py --build-dir build [--messages 2000]
         [--repeat 5] [--window 16] [--tls] [--python-client]
"""

import argparse
import hashlib
import os
import signal
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(BENCH_DIR, "lib"))
sys.path.insert(0, BENCH_DIR)

from instances import BenchError, cpu_ns, environment, log, report, tree_cpu_ns  # noqa: E402
from imap import build_timer  # noqa: E402
from pop3 import PopPhases, PopTimer, unstuff  # noqa: E402
from bench_imap import (CACHE_DIR, dovecot_instance, ensure_corpus, ensure_filled,  # noqa: E402
                        maildir_count, petrel_instance, strip_trace)

TARGET_SPEEDUP = 2.0
PHASES = ("login", "list_uidl", "retr", "dele", "quit")
COUNTS = {  # what check_counts() looks at, by phase
    "login": (), "list_uidl": ("list", "uidl"), "retr": ("messages", "octets", "size_mismatch"),
    "dele": (), "quit": ("status",),
}
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


def server_pids(inst):
    """Whose CPU counts: petrel-pop3d with all its threads; every process of
    the Dovecot instance (master, login, pop3, auth, log...)."""
    return inst.pids("pop3") if inst.name == "Petrel" else inst.pids()


def wait_reaped(pids, timeout=5.0):
    """Waits until the processes are gone and waited for, so that their CPU
    is in their parent's cutime (tree_cpu_ns)."""
    deadline = time.monotonic() + timeout
    while any(os.path.exists("/proc/%d" % pid) for pid in pids):
        if time.monotonic() > deadline:
            raise BenchError("the session's processes %s did not exit" % pids)
        time.sleep(0.005)


def wait_empty(maildir, timeout):
    """Seconds until the Maildir holds no message file (at most timeout)."""
    t0 = time.perf_counter()
    while maildir_count(maildir) != 0 and time.perf_counter() - t0 < timeout:
        time.sleep(0.001)
    return time.perf_counter() - t0


def drain(inst, args, n, window, exe, maildir, keep=False):
    """One full drain, phase by phase, by the C client exe (or by the Python
    client: keep, --tls). Returns ({phase: seconds, "cpu_" + phase: server
    CPU seconds, "client_cpu": seconds, "removal": seconds from QUIT's
    answer until the Maildir is empty, counts...}, the client). A phase's
    server CPU includes what the server does for it after answering: QUIT's
    runs until the files are gone."""
    port = inst.ports["pop3s" if args.tls else "pop3"]
    if exe is None or keep:
        client = PopPhases(port, window, tls=args.tls, keep=keep, timeout=args.timeout)
        client_pid = None  # this process: its CPU is not measured
    else:
        client = PopTimer(exe, port, window, args.timeout)
        client_pid = client.proc.pid
    lines = {"login": "login %s %s" % (inst.user, inst.password), "list_uidl": "list",
             "retr": "retr %d" % n, "dele": "dele %d" % n, "quit": "quit"}
    out = {}
    session = []
    try:
        client_cpu0 = cpu_ns([client_pid]) if client_pid else 0
        for phase in PHASES:
            cpu0 = tree_cpu_ns(server_pids(inst))
            r = client.phase(lines[phase])
            if phase == "login" and inst.name == "Dovecot":
                session = inst.pids("pop3")
            elif phase == "quit":
                wait_reaped(session)
                out["removal"] = wait_empty(maildir, args.timeout)
            out[phase] = r["seconds"]
            out["cpu_" + phase] = (tree_cpu_ns(server_pids(inst)) - cpu0) / 1e9
            out.update((k, r[k]) for k in COUNTS[phase])
        out["client_cpu"] = (cpu_ns([client_pid]) - client_cpu0) / 1e9 if client_pid else None
    except BenchError as e:
        raise BenchError("%s: %s\n%s" % (inst.name, e, inst.log_tail(15)))
    finally:
        client.close()
    out["total"] = sum(out[phase] for phase in PHASES)
    out["cpu_total"] = sum(out["cpu_" + phase] for phase in PHASES)
    return out, client


def check_counts(inst, r, n, octets):
    """What every drain must have answered (octets: of the checked drain)."""
    wrong = []
    if r["list"] != n or r["uidl"] != n:
        wrong.append("LIST/UIDL list %d/%d messages" % (r["list"], r["uidl"]))
    if r["messages"] != n:
        wrong.append("%d RETR answers" % r["messages"])
    if r["size_mismatch"]:
        wrong.append("%d RETR answers not of LIST's size" % r["size_mismatch"])
    if octets is not None and r["octets"] is not None and r["octets"] != octets:
        wrong.append("RETR answers of %d octets, the checked drain got %d"
                     % (r["octets"], octets))
    if b"deleted" not in r["status"]:
        wrong.append("QUIT answered %r" % r["status"])
    if wrong:
        raise BenchError("%s: %s (of %d messages)" % (inst.name, "; ".join(wrong), n))


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


def over_floor_ratio(petrel, dovecot):
    """How the two servers' times above the round-trip floor compare."""
    if petrel <= 0 or dovecot <= 0:
        return "at the floor"
    return "%.1fx less above it for Petrel" % (dovecot / petrel)


def round_trip_floor(exe, commands, timeout):
    """Seconds for `commands` one-at-a-time round trips to a do-nothing
    server (pop3_timer --floor)."""
    r = subprocess.run([exe, "--floor", str(commands)], capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode != 0:
        raise BenchError("pop3_timer --floor failed: %s" % r.stderr.strip())
    return float(r.stdout.split()[0])


def run_round(args, n, fill, window, first_petrel, exe, digests, octets):
    """One drain per server on fresh instances. With digests (the checked
    round), by the Python client, every RETR answer checked; the octets
    each server sent go into octets, for the later drains to match."""
    with petrel_instance(args, fill, ["pop3"]) as p, dovecot_instance(args, fill, ("pop3",)) as d:
        if "pop3" not in p.procs:
            raise BenchError("petrel-pop3d is not running: %s" % p.skipped.get("pop3"))
        maildirs = {p.name: os.path.join(p.data_dir, "users", p.user, "Maildir"),
                    d.name: d.maildir}
        out = {}
        for inst in ((p, d) if first_petrel else (d, p)):
            r, client = drain(inst, args, n, window, exe, maildirs[inst.name],
                              keep=digests is not None)
            if digests is not None:
                verify(inst, client.bodies, digests, n)
                octets[inst.name] = r["octets"]
            check_counts(inst, r, n, octets.get(inst.name))
            empty_after(inst, maildirs[inst.name])
            out[inst.name] = r
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
    ap.add_argument("--python-client", action="store_true",
                    help="time with the Python client instead of bench/pop3_timer.c (as "
                    "--tls does; figures comparable with earlier runs)")
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
    floors = []  # seconds of a sequential drain's round trips to a do-nothing server
    loads = []
    try:
        corpus = ensure_corpus(args.cache_dir, n, args.seed, args.refill)
        fill = ensure_filled(args, corpus)
        digests = corpus_digests(corpus)
        exe = None if args.tls or args.python_client else build_timer(args.cache_dir,
                                                                      "pop3_timer")
        loads.append(os.getloadavg()[0])
        # One unmeasured round per mode by the Python client, with every
        # message checked; the C client's drains must then match its octets.
        octets = {}
        for mode, window in modes:
            run_round(args, n, fill, window, True, exe, digests, octets)
            log("%s: checked round done (every RETR answer is a corpus message)" % mode)
        for rnd in range(args.repeat):
            for k, (mode, window) in enumerate(modes):
                r = run_round(args, n, fill, window, (rnd + k) % 2 == 0, exe, None, octets)
                for name in r:
                    results[mode][name].append(r[name])
                if window == 1 and exe is not None:
                    floors.append(round_trip_floor(exe, 2 * n + 5, args.timeout))
                log("round %d/%d %s: drain s Petrel %.3f, Dovecot %.3f; server CPU s "
                    "Petrel %.3f, Dovecot %.3f" % (
                        rnd + 1, args.repeat, mode, r["Petrel"]["total"],
                        r["Dovecot"]["total"], r["Petrel"]["cpu_total"],
                        r["Dovecot"]["cpu_total"]))
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
        rows.append(("  server CPU, whole drain, ms", med(mode, "Petrel", "cpu_total") * 1e3,
                     med(mode, "Dovecot", "cpu_total") * 1e3, "lower"))
        for phase in PHASES:
            rows.append(("  %s, ms" % PHASE_LABELS[phase], med(mode, "Petrel", phase) * 1e3,
                         med(mode, "Dovecot", phase) * 1e3, "lower"))
            rows.append(("    server CPU ms", med(mode, "Petrel", "cpu_" + phase) * 1e3,
                         med(mode, "Dovecot", "cpu_" + phase) * 1e3, "lower"))
        rows.append(("  message files gone, ms after QUIT's answer",
                     med(mode, "Petrel", "removal") * 1e3, med(mode, "Dovecot", "removal") * 1e3,
                     None))
        rows.append(("  messages/s (RETR phase)", n / med(mode, "Petrel", "retr"),
                     n / med(mode, "Dovecot", "retr"), "higher"))
        rows.append(("  RETR octets (messages as sent, un-stuffed)", octets["Petrel"],
                     octets["Dovecot"], None))
    speedups = {mode: med(mode, "Dovecot", "total") / med(mode, "Petrel", "total")
                for mode, _ in modes}
    floor = statistics.median(floors) if floors else None
    if floor is not None:
        rows.insert(1, ("  the same %s round trips to a do-nothing server, s" % "{:,}".format(
            2 * n + 5), floor, floor, None))
    notes = [environment()]
    notes.append("load average (1 min) at the start and the end: %.1f, %.1f"
                 % (loads[0], loads[-1]))
    notes.append(
        "%s msgs: gen_corpus.py seed %d (%.0f bytes/msg on average), delivered over LMTP to "
        "each server (filled %s), copied from %s into fresh instances for every drain; "
        "%s; %d measured drains per server and mode after one checked drain, alternating which "
        "server goes first, median; time of a phase from its first send to its last reply "
        "(login: from connect), whole drain = their sum"
        % ("{:,}".format(n), args.seed, corpus["bytes"] / n, fill["date"], fill["path"],
           "implicit TLS :995" if args.tls else "plain :110 (plaintext logins allowed on both)",
           args.repeat))
    if exe is not None:
        busy = max(statistics.median(r["client_cpu"] / r["total"] for r in results[mode][name])
                   for mode, _ in modes for name in ("Petrel", "Dovecot"))
        notes.append("timed by the C client bench/pop3_timer.c on the same machine (busy at most "
                     "%.0f%% of a drain, median); checked drains by the Python client; every "
                     "timed drain must have LIST/UIDL of every message, every RETR answer "
                     "terminated, of LIST's size, and as many octets as the checked drain"
                     % (busy * 100))
    else:
        notes.append("timed by the Python raw-socket client lib/pop3.py on the same machine "
                     "(%s): it takes a large part of the time" % (
                         "--tls" if args.tls else "--python-client"))
    notes.append("server CPU: every thread of petrel-pop3d; every process of the Dovecot "
                 "instance (schedstat, plus exited processes once reaped, to a clock tick)")
    notes.append("Dovecot: one pop3 process per session (pop3-login in high-security mode), "
                 "mail_fsync = always, Maildir with its index as LMTP left it; Petrel: "
                 "petrel-pop3d, one process")
    notes.append("target (POP3 issue): full drain >= %.0fx faster than Dovecot: %s" % (
        TARGET_SPEEDUP, ", ".join("%s %.2fx %s" % (mode, s, "met" if s >= TARGET_SPEEDUP
                                                    else "NOT met")
                                  for mode, s in speedups.items())))
    if floor is not None:
        notes.append(
            "round-trip floor: a sequential drain is %s one-at-a-time round trips; to a server "
            "that does nothing (pop3_timer --floor, after each sequential round, median) they "
            "took %.2f s on this machine, %.0f us each, so no server can drain sequentially here "
            "faster than that: at best %.2fx Dovecot's %.2f s, against the 2x target; Petrel's "
            "sequential drain took %.2f s, %.2f s over the floor (Dovecot %.2f s over it: "
            "%s)"
            % ("{:,}".format(2 * n + 5), floor, floor / (2 * n + 5) * 1e6,
               med("sequential", "Dovecot", "total") / floor,
               med("sequential", "Dovecot", "total"), med("sequential", "Petrel", "total"),
               med("sequential", "Petrel", "total") - floor,
               med("sequential", "Dovecot", "total") - floor,
               over_floor_ratio(med("sequential", "Petrel", "total") - floor,
                                med("sequential", "Dovecot", "total") - floor)))
    if fill.get("stale_note"):
        notes.append(fill["stale_note"])
    report("POP3: full drain (LIST, UIDL, RETR all, DELE all, QUIT), Petrel vs Dovecot",
           rows, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
