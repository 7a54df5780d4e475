#!/usr/bin/python3
"""
Connection benchmark: Petrel and Dovecot from the same run, one after the
other, each alone on loopback with equivalent settings (lib/instances.py).

(a) Login round trips, sequential, over implicit TLS (:993) and STARTTLS
    (:143): connect, greeting, CAPABILITY, [STARTTLS, CAPABILITY,] LOGIN,
    LOGOUT, close. Every connection is a full TLS handshake (no resumption).
    Reports logins per second and p50/p99 latency of one round trip.
(b) Idle connections: K connections that stay idle after the greeting on the
    plain port and, separately, after a TLS handshake and the greeting on
    :993. Reports how much the server's memory grows per connection, as the
    sum of VmRSS (what ps/top add up, shared library pages once per process)
    and of USS (pages private to each process, the memory a connection really
    adds) over all processes of the instance.

    /usr/bin/python3 bench/bench_connect.py --build-dir build [--iterations N] [--idle K]
"""

import argparse
import imaplib
import os
import select
import signal
import socket
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))

from instances import (HOST, IO_TIMEOUT, BenchError, DovecotInstance, PetrelInstance,  # noqa: E402
                       Timer, environment, imap_login, log, percentile, uss_kb, raise_nofile,
                       read_line, report, rss_kb, tls_client_context)

WARMUP = 20            # unmeasured logins per mode before measuring
OPEN_DEADLINE = 300.0  # seconds allowed for opening all idle connections
SETTLE = 1.0           # seconds to let the server settle before reading memory
BLOCKS = 10            # login round trips alternate between the servers in blocks


def login_block(inst, tls_mode, count, timeout, ctx, acc):
    """count sequential login round trips; adds to acc (latencies, elapsed
    seconds, errors)."""
    port = inst.ports["imaps" if tls_mode == "implicit" else "imap"]
    with Timer() as total:
        for _ in range(count):
            t0 = time.perf_counter()
            try:
                conn = imap_login(port, tls_mode, inst.user, inst.password, timeout=timeout,
                                  ssl_context=ctx)
                conn.logout()
            except (imaplib.IMAP4.error, OSError) as e:
                acc["errors"] += 1
                if acc["first_error"] is None:
                    acc["first_error"] = "%s: %s" % (type(e).__name__, e)
                continue
            acc["latencies"].append(time.perf_counter() - t0)
    acc["elapsed"] += total.elapsed


def login_round_trips(instances, iterations, timeout, ctx):
    """Both servers run at once; their login round trips alternate in blocks
    (order swapped every block) so that a change in machine load during the
    run hits both alike. Returns {server name: {mode: results}}."""
    blocks = max(1, min(BLOCKS, iterations))
    res = {}
    for mode in ("implicit", "starttls"):
        log("%d %s login round trips per server, in %d alternating blocks"
            % (iterations, mode, blocks))
        accs = {inst.name: {"latencies": [], "elapsed": 0.0, "errors": 0, "first_error": None}
                for inst in instances}
        for b in range(blocks):
            count = iterations // blocks + (1 if b < iterations % blocks else 0)
            for inst in (instances if b % 2 == 0 else instances[::-1]):
                login_block(inst, mode, count, timeout, ctx, accs[inst.name])
        for inst in instances:
            acc = accs[inst.name]
            if acc["first_error"]:
                log("%s %s: %d errors, first: %s"
                    % (inst.name, mode, acc["errors"], acc["first_error"]))
            if not acc["latencies"]:
                raise BenchError("%s: every %s login failed (%s)\n%s"
                                 % (inst.name, mode, acc["first_error"], inst.log_tail()))
            lat = acc["latencies"]
            res.setdefault(inst.name, {})[mode] = {
                "rate": len(lat) / acc["elapsed"],
                "p50": percentile(lat, 50) * 1000.0,
                "p99": percentile(lat, 99) * 1000.0,
                "errors": acc["errors"],
            }
    return res


def open_idle(port, tls, count, timeout, ctx):
    """count connections that have read the greeting (after a TLS handshake
    if tls). Returns the sockets; closes them all on failure."""
    socks = []
    deadline = time.monotonic() + OPEN_DEADLINE
    try:
        for i in range(count):
            if time.monotonic() > deadline:
                raise BenchError("opening %d connections took more than %.0fs (reached %d)"
                                 % (count, OPEN_DEADLINE, i))
            s = socket.create_connection((HOST, port), timeout=timeout)
            if tls:
                try:
                    s = ctx.wrap_socket(s)
                except BaseException:
                    s.close()
                    raise
            socks.append(s)
            line = read_line(s, timeout)
            if not line.startswith(b"* OK"):
                raise BenchError("connection %d: unexpected greeting %r" % (i, line[:200]))
    except BaseException:
        close_all(socks)
        raise
    return socks


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def count_disturbed(socks):
    """Connections on which the server has sent something or hung up since
    the greeting (an idle connection should see neither). poll(), because
    select() cannot watch descriptors above 1024."""
    poller = select.poll()
    for s in socks:
        poller.register(s.fileno(), select.POLLIN | select.POLLHUP | select.POLLERR)
    return len(poller.poll(0))


def wait_stable(inst, timeout=15.0):
    """Waits (bounded) until the instance's process list has not changed for
    SETTLE seconds, e.g. until imap processes of finished sessions exited.
    Returns the pids."""
    deadline = time.monotonic() + timeout
    pids = inst.pids()
    since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = inst.pids()
        if now != pids:
            pids, since = now, time.monotonic()
        elif time.monotonic() - since >= SETTLE:
            break
    return pids


def idle_memory(inst, tls, count, timeout, ctx):
    """Memory growth with count idle connections open; call on a settled
    instance."""
    port = inst.ports["imaps" if tls else "imap"]
    pids = inst.pids()
    before = (rss_kb(pids), uss_kb(pids), len(pids))
    with Timer() as t:
        try:
            socks = open_idle(port, tls, count, timeout, ctx)
        except OSError as e:
            raise BenchError("%s: opening idle %s connections: %s: %s\n%s"
                             % (inst.name, "TLS" if tls else "plain", type(e).__name__, e,
                                inst.log_tail()))
    try:
        time.sleep(SETTLE)
        pids = inst.pids()
        after = (rss_kb(pids), uss_kb(pids), len(pids))
        disturbed = count_disturbed(socks)
    finally:
        close_all(socks)
    log("%s idle %s: %d connections opened in %.1fs; RSS %d -> %d KB, USS %d -> %d KB, "
        "processes %d -> %d, disturbed %d"
        % (inst.name, "TLS" if tls else "plain", count, t.elapsed, before[0], after[0],
           before[1], after[1], before[2], after[2], disturbed))
    if disturbed:
        log("%s: %d idle connections were closed or written to during the measurement\n%s"
            % (inst.name, disturbed, inst.log_tail(10)))
    return {
        "rss": (after[0] - before[0]) / count,
        "uss": (after[1] - before[1]) / count,
        "processes": after[2],
        "disturbed": disturbed,
    }


def warm_up(inst, timeout, ctx):
    """A few unmeasured logins per mode, so lazy initialisation (TLS,
    authentication, the user's mailbox) is not billed to the measurement."""
    for mode in ("implicit", "starttls"):
        port = inst.ports["imaps" if mode == "implicit" else "imap"]
        try:
            for _ in range(WARMUP):
                imap_login(port, mode, inst.user, inst.password, timeout=timeout,
                           ssl_context=ctx).logout()
        except (imaplib.IMAP4.error, OSError) as e:
            raise BenchError("%s: %s login failed: %s: %s\n%s"
                             % (inst.name, mode, type(e).__name__, e, inst.log_tail()))


def idle_phases(start, args):
    """Idle-memory phases for one server. Each phase gets a fresh, warmed-up
    instance, alone on the machine, so memory freed by an earlier phase (kept
    by the allocator or by long-lived processes) cannot hide the growth of
    the next one."""
    ctx = tls_client_context()
    res = {}
    for tls in (False, True):
        with start() as inst:
            warm_up(inst, args.timeout, ctx)
            rest = wait_stable(inst)
            if not tls:
                res["rest_rss"] = rss_kb(rest) / 1024.0
                res["rest_uss"] = uss_kb(rest) / 1024.0
                res["rest_processes"] = len(rest)
            log("%s: %d idle %s connections" % (inst.name, args.idle, "TLS" if tls else "plain"))
            res["idle_tls" if tls else "idle_plain"] = idle_memory(
                inst, tls, args.idle, args.timeout, ctx)
    return res


def build_rows(p, d, args):
    rows = []
    for mode, label in (("implicit", "implicit TLS :993"), ("starttls", "STARTTLS :143")):
        rows += [
            ("%s logins/s" % label, p[mode]["rate"], d[mode]["rate"], "higher"),
            ("%s p50 ms" % label, p[mode]["p50"], d[mode]["p50"], "lower"),
            ("%s p99 ms" % label, p[mode]["p99"], d[mode]["p99"], "lower"),
        ]
        if p[mode]["errors"] or d[mode]["errors"]:
            rows.append(("%s failed logins" % label, p[mode]["errors"], d[mode]["errors"],
                         "lower"))
    if args.idle > 0:
        rows += [
            ("at rest: RSS MB (all processes)", p["rest_rss"], d["rest_rss"], None),
            ("at rest: USS MB (all processes)", p["rest_uss"], d["rest_uss"], None),
            ("at rest: processes", p["rest_processes"], d["rest_processes"], None),
        ]
        for key, label in (("idle_plain", "idle plain :143"), ("idle_tls", "idle TLS :993")):
            rows += [
                ("%s RSS KB/conn" % label, p[key]["rss"], d[key]["rss"], "lower"),
                ("%s USS KB/conn" % label, p[key]["uss"], d[key]["uss"], "lower"),
                ("%s processes" % label, p[key]["processes"], d[key]["processes"], None),
            ]
            if p[key]["disturbed"] or d[key]["disturbed"]:
                rows.append(("%s conns dropped" % label, p[key]["disturbed"],
                             d[key]["disturbed"], "lower"))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", required=True, help="Petrel build directory")
    ap.add_argument("--iterations", type=int, default=300,
                    help="login round trips per TLS mode (default 300)")
    ap.add_argument("--idle", type=int, default=1000,
                    help="idle connections per phase (default 1000; 0 skips)")
    ap.add_argument("--timeout", type=float, default=IO_TIMEOUT,
                    help="seconds allowed for any one socket operation (default %.0f)"
                    % IO_TIMEOUT)
    ap.add_argument("--dovecot-imap-model", choices=("default", "hibernate"), default="default",
                    help="Dovecot IMAP process model (default: process per session)")
    ap.add_argument("--dovecot-login-model", choices=("security", "performance"),
                    default="security",
                    help="Dovecot login processes: 'security' (Dovecot's default, one "
                    "process per connection) or 'performance' (service_count = 0)")
    args = ap.parse_args()
    if args.iterations < 1 or args.idle < 0 or args.timeout <= 0:
        ap.error("--iterations must be >= 1, --idle >= 0, --timeout > 0")

    # A plain `kill` (or run-all.sh's timeout) still stops both servers: the
    # exit unwinds through their `with` blocks. Later TERMs are ignored so
    # they cannot cut that cleanup short.
    def on_term(*_):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        sys.exit(143)

    signal.signal(signal.SIGTERM, on_term)
    max_clients = max(2000, args.idle + 200)
    def start_petrel():
        return PetrelInstance(args.build_dir, max_clients=max_clients)

    def start_dovecot():
        return DovecotInstance(imap_model=args.dovecot_imap_model,
                               login_model=args.dovecot_login_model, max_clients=max_clients)

    ctx = tls_client_context()
    try:
        if args.idle:
            raise_nofile(args.idle + 200)
        with start_petrel() as petrel, start_dovecot() as dovecot:
            p = {"started": petrel.started, "skipped": petrel.skipped}
            d = {}
            for inst in (petrel, dovecot):
                warm_up(inst, args.timeout, ctx)
            logins = login_round_trips([petrel, dovecot], args.iterations, args.timeout, ctx)
            p.update(logins[petrel.name])
            d.update(logins[dovecot.name])
        if args.idle:
            p.update(idle_phases(start_petrel, args))
            d.update(idle_phases(start_dovecot, args))
    except BenchError as e:
        print("bench_connect: %s" % e, file=sys.stderr)
        return 1

    skipped = ", ".join("%s (%s)" % kv for kv in sorted(p["skipped"].items()))
    notes = [
        environment(),
        "logins: both servers up, measured in %d alternating blocks; idle memory: one server "
        "at a time; the client runs on the same machine (Python imaplib/ssl, its CPU time is "
        "part of every latency)" % min(BLOCKS, args.iterations),
        "Petrel daemons running: %s%s" % (", ".join(p["started"]),
                                          "; not started: " + skipped if skipped else ""),
        "Dovecot: imap model %s, login processes in %s mode; every process of the instance "
        "is measured (master, config, log, anvil, auth, stats, login and mail processes)"
        % (args.dovecot_imap_model, args.dovecot_login_model),
        "KB/conn = growth of the summed memory with %d idle connections open, divided by %d, "
        "each phase on a fresh warmed-up instance; RSS counts shared library pages once per "
        "process, USS only pages private to each process" % (args.idle, args.idle),
    ]
    report("bench_connect: %d logins per mode, %d idle connections"
           % (args.iterations, args.idle), build_rows(p, d, args), notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
