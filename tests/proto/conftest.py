"""Protocol-test harness: real daemons from this build, on free loopback ports.

Each test gets a fresh sandbox (``petrelctl sandbox create``) in a temp dir,
optionally with config overrides, and the daemons it asks for, started with
``-c DIR/petrel.conf -f``. When the test ends every daemon gets SIGTERM and
must exit 0 within a bounded time, and its stderr must be free of sanitizer
reports: a crash, a leak or a hang fails the test that caused it.
"""

import os
import random
import re
import resource
import signal
import socket
import ssl
import subprocess
import time

import pytest

SOURCE_DIR = os.environ.get(
    "PETREL_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
BUILD_DIR = os.environ.get("PETREL_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))
PETRELCTL = os.path.join(BUILD_DIR, "admin", "petrelctl")
DAEMONS = {
    "imapd": os.path.join(BUILD_DIR, "imapd", "petrel-imapd"),
    "pop3d": os.path.join(BUILD_DIR, "pop3d", "petrel-pop3d"),
    "lmtpd": os.path.join(BUILD_DIR, "lmtpd", "petrel-lmtpd"),
}
PORT_OFFSETS = {"imap": 143, "imaps": 993, "pop3": 110, "pop3s": 995, "lmtp": 24}
DAEMON_PORTS = {"imapd": ("imap", "imaps"), "pop3d": ("pop3", "pop3s"), "lmtpd": ("lmtp",)}
USER = "demo@example.test"
PASSWORD = "demo-pass"
# ASan's quarantine keeps freed memory resident, so memory bounds are checked
# on the plain build only (the sanitizer build checks memory safety instead).
MEMORY_BOUNDS = os.environ.get("PETREL_SANITIZE", "0") != "1"
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                     "runtime error:", "WARNING: ThreadSanitizer")

# Tests open thousands of sockets; the daemons raise their own limit.
_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (_hard, _hard))


def port_free(port, host="127.0.0.1"):
    with socket.socket() as s:
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_base_port():
    """A base N with N+24 ... N+995 all free (random, so parallel ctest
    runs rarely collide; a collision shows up as a clear bind error).
    All of them lie below the kernel's ephemeral range, where the tests'
    own outgoing connections would otherwise take a port between our
    check and the daemon's bind."""
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    high = max(_ephemeral_low(), 12000) - 1000
    for _ in range(200):
        base = rng.randrange(10000, high, 10)
        if all(port_free(base + off) for off in PORT_OFFSETS.values()):
            return base
    raise RuntimeError("no free base port found")


def set_options(path, overrides):
    """Sets {(section, key): value} in an INI file, replacing or adding."""
    lines = open(path).read().splitlines()
    for (section, key), value in overrides.items():
        header = "[%s]" % section
        if header not in lines:
            lines += ["", header]
        start = lines.index(header) + 1
        end = start
        while end < len(lines) and not lines[end].startswith("["):
            end += 1
        for i in range(start, end):
            if re.match(r"\s*%s\s*=" % re.escape(key), lines[i]):
                lines[i] = "%s = %s" % (key, value)
                break
        else:
            lines.insert(start, "%s = %s" % (key, value))
    open(path, "w").write("\n".join(lines) + "\n")


def wait_for(predicate, timeout=10.0):
    """Polls predicate until it holds (True) or timeout seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def wait_port(port, proc, log_path, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("daemon exited with %s:\n%s" % (proc.returncode, open(log_path).read()))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("port %d not listening after %.0fs:\n%s" % (port, timeout, open(log_path).read()))


class Sandbox:
    # Fast failure penalties keep the suite quick; tests of the penalty
    # itself set their own values.
    DEFAULT_OVERRIDES = {
        ("auth", "failure_delay"): "100ms",
        ("auth", "failure_delay_max"): "400ms",
        ("server", "log_level"): "debug",
    }

    def __init__(self, root, overrides=None):
        self.dir = str(root)
        self.base = free_base_port()
        self.ports = {name: self.base + off for name, off in PORT_OFFSETS.items()}
        self.conf = os.path.join(self.dir, "petrel.conf")
        self.procs = {}
        self.logs = {}
        out = subprocess.run([PETRELCTL, "sandbox", "create", self.dir, "--base-port", str(self.base)],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        opts = dict(self.DEFAULT_OVERRIDES)
        opts.update(overrides or {})
        set_options(self.conf, opts)

    def ctl(self, *args, input=None, check=True):
        out = subprocess.run([PETRELCTL, "-c", self.conf] + list(args), input=input,
                             capture_output=True, text=True, timeout=60)
        if check:
            assert out.returncode == 0, out.stderr
        return out

    def start(self, *daemons):
        for name in daemons or tuple(DAEMONS):
            log = os.path.join(self.dir, name + ".log")
            self.logs[name] = log
            with open(log, "ab") as f:
                self.procs[name] = subprocess.Popen([DAEMONS[name], "-c", self.conf, "-f"],
                                                    stdout=f, stderr=subprocess.STDOUT,
                                                    stdin=subprocess.DEVNULL)
            before = self._connects(name)
            for port in DAEMON_PORTS[name]:
                wait_port(self.ports[port], self.procs[name], log)
            self._wait_probes_closed(name, before, len(DAEMON_PORTS[name]))
        return self

    def _connects(self, name):
        """(connects, disconnects) the daemon's log holds so far (earlier
        runs of it included: a killed one leaves connects unmatched)."""
        log = self.log(name)
        return log.count("event=connect"), log.count("event=disconnect")

    def _wait_probes_closed(self, name, before, probes):
        """wait_port's probe connections count against the per-address
        limits until the daemon has seen them close; on a loaded machine
        (the sanitizer run) that can be after a test's first connections.
        Waits until this run logged them (debug, the tests' log level) and
        as many disconnects."""
        deadline = time.monotonic() + 10
        while True:
            connects, disconnects = self._connects(name)
            new = connects - before[0]
            if new >= probes and disconnects - before[1] >= new:
                return
            if time.monotonic() > deadline:
                raise RuntimeError("%s: start-up probes not closed after 10 s:\n%s"
                                   % (name, self.log(name)[-2000:]))
            time.sleep(0.01)

    def pid(self, name):
        return self.procs[name].pid

    def rss_kb(self, name):
        with open("/proc/%d/status" % self.pid(name)) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def log(self, name):
        with open(self.logs[name], errors="replace") as f:
            return f.read()

    def stop(self, name, timeout=20.0):
        """SIGTERM; the daemon must exit 0 and report no sanitizer errors."""
        proc = self.procs.pop(name)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise AssertionError("%s did not stop within %.0fs:\n%s" % (name, timeout, self.log(name)))
        text = self.log(name)
        for marker in SANITIZER_MARKERS:
            assert marker not in text, "%s reported:\n%s" % (name, text)
        assert proc.returncode == 0, "%s exited %s:\n%s" % (name, proc.returncode, text)

    def stop_all(self):
        errors = []
        for name in list(self.procs):
            try:
                self.stop(name)
            except AssertionError as e:
                errors.append(str(e))
        if errors:
            raise AssertionError("\n".join(errors))


@pytest.fixture
def make_sandbox(tmp_path):
    """make_sandbox(overrides) -> Sandbox; every one is stopped and checked at teardown."""
    made = []

    def make(overrides=None, subdir=None):
        root = tmp_path / (subdir or "sb%d" % len(made))
        sb = Sandbox(root, overrides)
        made.append(sb)
        return sb

    yield make
    errors = []
    for sb in made:
        try:
            sb.stop_all()
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("\n".join(errors))


@pytest.fixture
def sandbox(make_sandbox):
    """A sandbox with all three daemons running."""
    return make_sandbox().start()


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class LineClient:
    """A raw client: send bytes, read CRLF lines, with timeouts everywhere."""

    def __init__(self, port, tls=False, host="127.0.0.1", source=None, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.sock.settimeout(timeout)
        if tls:
            self.sock = tls_context().wrap_socket(self.sock)
        self.buf = b""

    def starttls(self):
        self.sock = tls_context().wrap_socket(self.sock)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; buffered: %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def lines_until(self, prefix):
        """Lines up to and including the first one starting with prefix."""
        out = []
        while True:
            out.append(self.line())
            if out[-1].startswith(prefix):
                return out

    def cmd(self, text, prefix=None):
        """Sends one line; returns the response lines up to the tagged one."""
        self.send(text + "\r\n")
        return self.lines_until(prefix if prefix is not None else text.split(" ", 1)[0] + " ")

    def read_until_closed(self, timeout=10.0):
        """Reads until EOF (or a reset); returns every byte not yet read."""
        self.sock.settimeout(timeout)
        data = self.buf
        while True:
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                break
            if not chunk:
                break
            data += chunk
        self.buf = b""
        return data

    def expect_closed(self, timeout=10.0):
        """Reads until EOF; returns what came before it."""
        return self.read_until_closed(timeout).decode("utf-8", "replace")

    def send_pipeline(self, data, split, timeout=10.0):
        """Sends data in one packet, or (split) one byte per packet (a TLS
        record each over TLS), then returns all the server sends until it
        closes the connection."""
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if split:
            for i in range(len(data)):
                self.send(data[i:i + 1])
                time.sleep(0.001)
        else:
            self.send(data)
        return self.read_until_closed(timeout)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
