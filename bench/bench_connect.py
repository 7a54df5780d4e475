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
    sum of VmRSS (what ps/top add up) and of PSS (shared pages divided among
    processes) over all processes of the instance.

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

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))

from instances import (HOST, IO_TIMEOUT, BenchError, DovecotInstance, PetrelInstance,  # noqa: E402
                       Timer, environment, imap_login, log, percentile, pss_kb, raise_nofile,
                       read_line, report, rss_kb, tls_client_context)

WARMUP = 20            # unmeasured logins per mode before measuring
OPEN_DEADLINE = 300.0  # seconds allowed for opening all idle connections
SETTLE = 1.0           # seconds to let the server settle before reading memory


def login_round_trips(inst, tls_mode, iterations, timeout, ctx):
    """Sequential login round trips; returns a dict of results."""
    port = inst.ports["imaps" if tls_mode == "implicit" else "imap"]
    for _ in range(min(WARMUP, iterations)):
        imap_login(port, tls_mode, inst.user, inst.password, timeout=timeout,
                   ssl_context=ctx).logout()
    latencies, errors, first_error = [], 0, None
    with Timer() as total:
        for _ in range(iterations):
            t0 = time.perf_counter()
            try:
                conn = imap_login(port, tls_mode, inst.user, inst.password, timeout=timeout,
                                  ssl_context=ctx)
                conn.logout()
            except (imaplib.IMAP4.error, OSError) as e:
                errors += 1
                first_error = first_error or "%s: %s" % (type(e).__name__, e)
                continue
            latencies.append(time.perf_counter() - t0)
    if first_error:
        log("%s %s: %d errors, first: %s" % (inst.name, tls_mode, errors, first_error))
    if not latencies:
        raise BenchError("%s: every %s login failed (%s)\n%s"
                         % (inst.name, tls_mode, first_error, inst.log_tail()))
    return {
        "rate": len(latencies) / total.elapsed,
        "p50": percentile(latencies, 50) * 1000.0,
        "p99": percentile(latencies, 99) * 1000.0,
        "errors": errors,
    }


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


def wait_processes(inst, count, timeout=30.0):
    """Waits (bounded) until the instance is back to at most count processes,
    i.e. per-connection processes of the previous phase have exited."""
    deadline = time.monotonic() + timeout
    while len(inst.pids()) > count and time.monotonic() < deadline:
        time.sleep(0.2)


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


def idle_memory(inst, tls, count, timeout, ctx, rest_processes):
    port = inst.ports["imaps" if tls else "imap"]
    wait_processes(inst, rest_processes)
    time.sleep(SETTLE)
    pids = inst.pids()
    before = (rss_kb(pids), pss_kb(pids), len(pids))
    with Timer() as t:
        socks = open_idle(port, tls, count, timeout, ctx)
    try:
        time.sleep(SETTLE)
        pids = inst.pids()
        after = (rss_kb(pids), pss_kb(pids), len(pids))
        disturbed = count_disturbed(socks)
    finally:
        close_all(socks)
    log("%s idle %s: %d connections opened in %.1fs; RSS %d -> %d KB, PSS %d -> %d KB, "
        "processes %d -> %d, disturbed %d"
        % (inst.name, "TLS" if tls else "plain", count, t.elapsed, before[0], after[0],
           before[1], after[1], before[2], after[2], disturbed))
    if disturbed:
        log("%s: %d idle connections were closed or written to during the measurement\n%s"
            % (inst.name, disturbed, inst.log_tail(10)))
    return {
        "rss": (after[0] - before[0]) / count,
        "pss": (after[1] - before[1]) / count,
        "processes": after[2],
        "disturbed": disturbed,
    }


def measure(inst, args):
    ctx = tls_client_context()
    res = {}
    for mode in ("implicit", "starttls"):
        log("%s: %d %s login round trips" % (inst.name, args.iterations, mode))
        res[mode] = login_round_trips(inst, mode, args.iterations, args.timeout, ctx)
    if args.idle > 0:
        rest = wait_stable(inst)
        res["rest_rss"] = rss_kb(rest) / 1024.0
        res["rest_pss"] = pss_kb(rest) / 1024.0
        res["rest_processes"] = len(rest)
        for tls in (False, True):
            log("%s: %d idle %s connections" % (inst.name, args.idle, "TLS" if tls else "plain"))
            res["idle_tls" if tls else "idle_plain"] = idle_memory(
                inst, tls, args.idle, args.timeout, ctx, len(rest))
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
            ("at rest: PSS MB (all processes)", p["rest_pss"], d["rest_pss"], None),
            ("at rest: processes", p["rest_processes"], d["rest_processes"], None),
        ]
        for key, label in (("idle_plain", "idle plain :143"), ("idle_tls", "idle TLS :993")):
            rows += [
                ("%s RSS KB/conn" % label, p[key]["rss"], d[key]["rss"], "lower"),
                ("%s PSS KB/conn" % label, p[key]["pss"], d[key]["pss"], "lower"),
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

    # A plain `kill` of the benchmark still stops both servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    max_clients = max(2000, args.idle + 200)
    try:
        if args.idle:
            raise_nofile(args.idle + 200)
        with PetrelInstance(args.build_dir, max_clients=max_clients) as petrel:
            p = measure(petrel, args)
            petrel_daemons = ", ".join(petrel.started)
            petrel_skipped = "; ".join("%s: %s" % kv for kv in sorted(petrel.skipped.items()))
        with DovecotInstance(imap_model=args.dovecot_imap_model,
                             login_model=args.dovecot_login_model,
                             max_clients=max_clients) as dovecot:
            d = measure(dovecot, args)
    except BenchError as e:
        print("bench_connect: %s" % e, file=sys.stderr)
        return 1

    notes = [
        environment(),
        "servers run one after the other, each alone, client on the same machine "
        "(Python imaplib/ssl; its CPU time is in every latency)",
        "Petrel daemons running: %s%s" % (petrel_daemons,
                                          " (not built: %s)" % petrel_skipped
                                          if petrel_skipped else ""),
        "Dovecot: imap model %s, login processes %s mode; whole instance measured "
        "(master, config, log, anvil, auth, stats, login and mail processes)"
        % (args.dovecot_imap_model, args.dovecot_login_model),
        "KB/conn = growth of the summed memory with %d idle connections open, divided by %d; "
        "RSS counts shared pages once per process, PSS divides them" % (args.idle, args.idle),
    ]
    report("bench_connect: %d logins per mode, %d idle connections"
           % (args.iterations, args.idle), build_rows(p, d, args), notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
