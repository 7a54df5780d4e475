"""Crash and concurrency safety of the store, from separate processes.

A writer is killed with SIGKILL at random moments during 500 deliveries;
after it restarts, `petrelctl store check` must find nothing to fix and every
acknowledged message must be present exactly once. Then four writers
deliver at once while a fifth process flags and expunges, and the result is
checked the same way.
"""

import os
import random
import signal
import subprocess
import threading
import time

import pytest

from conftest import BUILD_DIR, USER

TOOL = os.path.join(BUILD_DIR, "tests", "tools", "petrel-test-store")


def tool(sb, *args, **kw):
    return subprocess.Popen([TOOL, args[0], sb.conf, USER] + [str(a) for a in args[1:]],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def listing(sb):
    out = subprocess.run([TOOL, "list", sb.conf, USER, "INBOX"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    rows = [line.split("\t") for line in out.stdout.splitlines()]
    return [(int(uid), subject) for uid, subject in rows]


def assert_consistent(sb):
    out = sb.ctl("store", "check", USER)
    assert "consistent: 0 indexed, 0 expunged, 0 UIDs reassigned, 0 renamed" in out.stdout, out.stdout
    assert "1 user(s) checked, 0 fix(es)" in out.stdout


def read_acks(proc, acks, stop_after):
    """Reads ACK lines until the process dies or stop_after seconds pass."""
    deadline = time.monotonic() + stop_after
    killer = threading.Timer(stop_after, lambda: proc.send_signal(signal.SIGKILL))
    killer.start()
    try:
        for line in proc.stdout:
            if line.startswith("ACK "):
                _, subject, uid = line.split()
                acks.append((subject, int(uid)))
    finally:
        killer.cancel()
        proc.wait(30)
    return time.monotonic() < deadline


def test_sigkill_during_500_deliveries(make_sandbox):
    sb = make_sandbox()
    rng = random.Random(0x5EED ^ os.getpid())
    acks = []
    kills = 0
    next_n = 0
    deadline = time.monotonic() + 240
    # At least 500 acknowledged and at least 5 kills mid-run: a fast writer
    # may finish 500 before the fifth kill, so it then gets more to do.
    while (len(acks) < 500 or kills < 5) and time.monotonic() < deadline:
        proc = tool(sb, "deliver", max(500 - len(acks), 200), "m", next_n)
        before = len(acks)
        finished = read_acks(proc, acks, rng.uniform(0.005, 0.25))
        kills += 0 if finished else 1
        # Numbers go on after the last one sent: the one in flight may or
        # may not have been committed, never acknowledged.
        next_n += (len(acks) - before) + 1
    assert len(acks) >= 500, "only %d acknowledged in time" % len(acks)
    assert kills >= 5, "the writer was never killed mid-run (%d)" % kills

    assert_consistent(sb)
    stored = listing(sb)
    subjects = [s for _, s in stored]
    uids = [u for u, _ in stored]
    assert len(set(subjects)) == len(subjects), "a message is stored twice"
    assert uids == sorted(set(uids)), "UIDs not strictly increasing"
    by_subject = dict((s, u) for u, s in stored)
    for subject, uid in acks:
        assert by_subject.get(subject) == uid, "acknowledged %s (UID %d) is missing" % (subject, uid)


def test_four_writers_and_a_churner(make_sandbox):
    sb = make_sandbox()
    writers = [tool(sb, "deliver", 150, "w%d" % i, 0) for i in range(4)]
    churner = tool(sb, "churn", 6, 7)
    acks, expunged = [], set()
    for w in writers:
        out, err = w.communicate(timeout=300)
        assert w.returncode == 0, err
        for line in out.splitlines():
            _, subject, uid = line.split()
            acks.append((subject, int(uid)))
    out, err = churner.communicate(timeout=300)
    assert churner.returncode == 0, err
    expunged = {int(line.split()[1]) for line in out.splitlines() if line.startswith("EXPUNGED")}
    assert len(acks) == 600
    assert len({uid for _, uid in acks}) == 600, "a UID was given twice"

    assert_consistent(sb)
    stored = listing(sb)
    present = dict((u, s) for u, s in stored)
    assert len(present) == len(stored)
    for subject, uid in acks:
        if uid in expunged:
            assert uid not in present
        else:
            assert present.get(uid) == subject, "lost %s (UID %d)" % (subject, uid)
    assert len(stored) == 600 - len(expunged & {uid for _, uid in acks})
    # Quota usage is exact, whatever the interleaving.
    out = sb.ctl("quota", "get", USER).stdout
    assert "messages %d of unlimited" % len(stored) in out, out
