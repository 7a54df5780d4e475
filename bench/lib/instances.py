"""
Petrel and Dovecot side by side on loopback, for the benchmarks in bench/.

Standard library only: every benchmark runs with /usr/bin/python3 on a plain
Debian 12 machine with dovecot-imapd, dovecot-pop3d and dovecot-lmtpd
installed. Starting Dovecot needs root (it drops to its own accounts).

    with PetrelInstance("build") as petrel, DovecotInstance() as dovecot:
        conn = imap_login(petrel.ports["imaps"], "implicit")
        ...
        report("title", [("logins/s", 1234.0, 456.0, "higher")])

Both instances listen on 127.0.0.1 with the same port layout (base + 143 imap
with STARTTLS, +993 imaps, +110 pop3 with STLS, +995 pop3s, +24 lmtp), one
demo user (demo@example.test / demo-pass), plaintext authentication only over
TLS, TLS 1.2 or later with an EC P-256 self-signed certificate, and the same
durability: every delivered message file and its directory are fsynced before
delivery is acknowledged. README.md explains each choice.

Every wait in this module is bounded; a failure to start raises BenchError
carrying the daemon's own error output.
"""

import grp
import imaplib
import os
import pwd
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

HOST = "127.0.0.1"
DEMO_USER = "demo@example.test"
DEMO_PASSWORD = "demo-pass"

# Offsets from the base port; the last digits match the standard ports.
PORT_OFFSETS = {"lmtp": 24, "pop3": 110, "imap": 143, "imaps": 993, "pop3s": 995}
SERVICE_PORTS = {"imap": ("imap", "imaps"), "pop3": ("pop3", "pop3s"), "lmtp": ("lmtp",)}

DOVECOT = "/usr/sbin/dovecot"
START_TIMEOUT = 20.0  # seconds for a daemon to accept on every port
STOP_TIMEOUT = 15.0   # seconds between SIGTERM and SIGKILL (Petrel's grace is 10s)
IO_TIMEOUT = 10.0     # default for every client socket operation


class BenchError(Exception):
    """A benchmark cannot run: a server did not start, a port is taken..."""


def log(msg):
    """Progress goes to stderr so that stdout holds only the result tables."""
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------- ports

def ports_for(base):
    return {name: base + off for name, off in PORT_OFFSETS.items()}


def _port_free(port):
    # No SO_REUSEADDR: a port with lingering TIME_WAIT connections counts as
    # busy, so a server that binds it right after is sure to succeed.
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((HOST, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_base_port(attempts=50, low=20000, high=60000):
    """A base N such that N+24, N+110, N+143, N+993 and N+995 are all free
    on 127.0.0.1 right now. Random bases keep concurrent runs apart."""
    rng = random.SystemRandom()
    for _ in range(attempts):
        base = rng.randrange(low, high)
        if all(_port_free(p) for p in ports_for(base).values()):
            return base
    raise BenchError("no free base port found in %d attempts (%d..%d)" % (attempts, low, high))


def port_accepts(port, timeout=0.5):
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def _wait_ports(ports, procs, timeout, describe_failure):
    """Waits until every port accepts a connection. procs: processes that
    must stay alive meanwhile. Raises BenchError with describe_failure()."""
    deadline = time.monotonic() + timeout
    pending = list(ports)
    while pending:
        for p in procs:
            if p.poll() is not None:
                raise BenchError("exited with status %s before accepting connections\n%s"
                                 % (p.returncode, describe_failure()))
        pending = [port for port in pending if not port_accepts(port)]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise BenchError("ports %s not accepting after %.0fs\n%s"
                             % (", ".join(map(str, pending)), timeout, describe_failure()))
        time.sleep(0.1)


# --------------------------------------------------------------- processes

def _stat_fields(pid):
    """The fields of /proc/PID/stat after "(comm) " (state is [0], ppid [1],
    utime..cstime [11:15]), or None if the process is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    # comm is in parentheses and may itself contain spaces or parentheses.
    return data[data.rindex(")") + 2:].split()


def _proc_stat(pid):
    """(ppid, state) from /proc/PID/stat, or None if the process is gone."""
    fields = _stat_fields(pid)
    return None if fields is None else (int(fields[1]), fields[0])


def _all_pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def descendants(root_pids):
    """root_pids plus every live process below them (zombies excluded)."""
    children = {}
    for pid in _all_pids():
        st = _proc_stat(pid)
        if st is not None and st[1] != "Z":
            children.setdefault(st[0], []).append(pid)
    out, todo = [], list(root_pids)
    seen = set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        st = _proc_stat(pid)
        if st is None or st[1] == "Z":
            continue
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return sorted(out)


def _status_kb(pid, key, path="status"):
    try:
        with open("/proc/%d/%s" % (pid, path)) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def rss_kb(pids):
    """Sum of VmRSS over pids, in KiB. Shared pages (libraries, pre-fork
    memory) count once per process, which is how `ps` and `top` add up."""
    return sum(_status_kb(pid, "VmRSS") for pid in pids)


def pss_kb(pids):
    """Sum of the proportional set size over pids, in KiB: each shared page
    is divided among the processes mapping it, so the sum is the memory the
    processes really cost together. Needs root for other users' processes."""
    return sum(_status_kb(pid, "Pss", "smaps_rollup") for pid in pids)


def uss_kb(pids):
    """Sum of the unique set size over pids, in KiB: pages mapped by that
    process alone (Private_Clean + Private_Dirty). Unlike PSS it does not
    move when unrelated processes map the same libraries, so its growth is
    the memory a new connection really adds. Needs root for other users'."""
    return sum(_status_kb(pid, "Private_Clean", "smaps_rollup") +
               _status_kb(pid, "Private_Dirty", "smaps_rollup") for pid in pids)


def anon_kb(pids):
    """Sum of anonymous memory (heap, stacks, private mappings) over pids,
    in KiB (Anonymous in /proc/PID/smaps_rollup): unlike RSS and USS it
    leaves out file pages, such as those of a memory-mapped index that the
    process reads."""
    return sum(_status_kb(pid, "Anonymous", "smaps_rollup") for pid in pids)


def cpu_seconds(pids):
    """CPU time (user + system, all threads) used so far by pids, plus the
    time of their children that have exited and been waited for (cutime,
    cstime). The difference between two calls on the same process tree is
    what the tree used in between, even if a child exited meanwhile."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            total += sum(int(x) for x in fields[11:15])
    return total / tick


def cpu_ns(pids):
    """CPU time (ns) used so far by every thread of pids, from
    /proc/PID/task/TID/schedstat: nanosecond resolution, where cpu_seconds()
    counts clock ticks (10 ms), too coarse for one IMAP command. Threads
    that have exited are not counted, so compare two calls on a process
    tree whose threads live throughout."""
    total = 0
    for pid in pids:
        try:
            tids = os.listdir("/proc/%d/task" % pid)
        except OSError:
            continue
        for tid in tids:
            try:
                with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    return total


def tree_cpu_ns(pids):
    """cpu_ns(pids) plus the CPU time of their children that have exited and
    been waited for (cutime + cstime, in clock ticks). Called twice with the
    current descendants() of the same root, the difference is what the tree
    used in between, also when processes came and went meanwhile (Dovecot's
    login and pop3 processes): to within a tick per process that exited, and
    once it has been reaped (a zombie counts nowhere)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = cpu_ns(pids)
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            total += (int(fields[13]) + int(fields[14])) * 10**9 // tick
    return total


def _raise_nofile(limit=None):
    """Raises this process's RLIMIT_NOFILE soft limit (to the hard limit by
    default). Returns the new soft limit."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard
    if limit is not None and (hard == resource.RLIM_INFINITY or limit < hard):
        want = limit
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        soft = want
    return soft


def raise_nofile(needed):
    """For clients holding many sockets: RLIMIT_NOFILE >= needed, or BenchError."""
    soft = _raise_nofile()
    if soft < needed:
        raise BenchError("RLIMIT_NOFILE hard limit %d is below the %d descriptors needed; "
                         "raise it (ulimit -Hn) or use fewer connections" % (soft, needed))
    return soft


def _terminate(pids, timeout):
    """SIGTERM to pids, wait up to timeout for all to be gone, then SIGKILL
    the rest. Returns the pids that needed SIGKILL."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    return _wait_gone_or_kill(pids, timeout)


def _alive(pid):
    st = _proc_stat(pid)
    return st is not None and st[1] != "Z"


def _wait_gone_or_kill(pids, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in pids):
            return []
        time.sleep(0.05)
    killed = [p for p in pids if _alive(p)]
    for pid in killed:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and any(_alive(p) for p in killed):
        time.sleep(0.05)
    return killed


def _reap(popen, timeout=5.0):
    try:
        popen.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass


def _tail(path, lines=40):
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError as e:
        return "(cannot read %s: %s)" % (path, e.strerror)
    return "\n".join(text.splitlines()[-lines:]) or "(%s is empty)" % path


def _run(argv, timeout=30.0, **kw):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired:
        raise BenchError("%s did not finish within %.0fs" % (" ".join(argv), timeout))
    except OSError as e:
        raise BenchError("cannot run %s: %s" % (argv[0], e.strerror))


def _child_setup():
    # Runs in each daemon before exec: the highest descriptor limit allowed.
    # (Popen's start_new_session keeps a Ctrl-C on the benchmark from hitting
    # the daemons half-way; stop() ends them.)
    _raise_nofile()


# --------------------------------------------------------------- Petrel

def set_ini_options(path, overrides):
    """Sets {(section, key): value} in an INI file such as petrel.conf: a key
    already in that section is replaced in place, a new one is added at the
    top of the section, and a missing section is added at the end (Petrel's
    config parser does not merge a section that appears twice)."""
    with open(path) as f:
        lines = f.read().splitlines()
    for (section, key), value in overrides.items():
        header = "[%s]" % section
        if header not in (l.strip() for l in lines):
            lines += ["", header]
        start = next(i for i, l in enumerate(lines) if l.strip() == header) + 1
        end = start
        while end < len(lines) and not lines[end].lstrip().startswith("["):
            end += 1
        setting = "%s = %s" % (key, value)
        for i in range(start, end):
            name = lines[i].split("=", 1)[0].strip()
            if "=" in lines[i] and not lines[i].lstrip().startswith(("#", ";")) and name == key:
                lines[i] = setting
                break
        else:
            lines.insert(start, setting)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def _ini_value(path, section, key):
    """A value from an INI file such as petrel.conf, or None."""
    import configparser
    cp = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        cp.read(path)
        return cp.get(section, key)
    except (configparser.Error, OSError):
        return None


class PetrelInstance:
    """A Petrel sandbox (`petrelctl sandbox create`) in a fresh temp dir,
    with petrel-imapd, petrel-pop3d and petrel-lmtpd started in the
    foreground. A daemon whose binary is not built is skipped, and said so
    (attribute `skipped`: service -> reason).

    max_clients raises the per-IP and per-user connection limits, since a
    benchmark connects many times from 127.0.0.1 as the same user.
    overrides: {(section, key): value} set in petrel.conf before any daemon
    starts (a key already in the sandbox config is replaced).
    populate: called as populate(instance) after the sandbox is made and
    before any daemon starts, e.g. to copy a prepared data_dir in
    (attribute `data_dir`)."""

    DAEMONS = (("imap", "imapd/petrel-imapd"), ("pop3", "pop3d/petrel-pop3d"),
               ("lmtp", "lmtpd/petrel-lmtpd"))

    name = "Petrel"

    def __init__(self, build_dir, base_port=None, max_clients=2000, services=None,
                 overrides=None, populate=None):
        self.build_dir = os.path.abspath(build_dir)
        self.base_port = base_port if base_port is not None else free_base_port()
        self.ports = ports_for(self.base_port)
        self.host = HOST
        self.user = DEMO_USER
        self.password = DEMO_PASSWORD
        self.procs = {}      # service -> Popen
        self.skipped = {}    # service -> reason
        self.dir = None
        wanted = set(services) if services is not None else None
        ctl = os.path.join(self.build_dir, "admin/petrelctl")
        if not os.access(ctl, os.X_OK):
            raise BenchError("%s not found: build Petrel first (cmake --build %s)"
                             % (ctl, build_dir))
        self.dir = tempfile.mkdtemp(prefix="petrel-bench-")
        try:
            self.conf = os.path.join(self.dir, "petrel.conf")
            self._create(ctl, max_clients)
            if overrides:
                set_ini_options(self.conf, overrides)
            self.data_dir = _ini_value(self.conf, "server", "data_dir") or \
                os.path.join(self.sandbox, "data")
            if populate is not None:
                populate(self)
            for service, rel in self.DAEMONS:
                if wanted is not None and service not in wanted:
                    self.skipped[service] = "not requested"
                    continue
                binary = os.path.join(self.build_dir, rel)
                if not os.access(binary, os.X_OK):
                    self.skipped[service] = "%s not built" % rel
                    log("petrel: %s not built, %s not started" % (rel, service))
                    continue
                self._start(service, binary)
        except BaseException:
            self.stop()
            raise

    def _create(self, ctl, max_clients):
        sandbox = os.path.join(self.dir, "sandbox")
        r = _run([ctl, "sandbox", "create", sandbox, "--base-port", str(self.base_port)])
        if r.returncode != 0:
            raise BenchError("petrelctl sandbox create failed (status %d):\n%s%s"
                             % (r.returncode, r.stdout, r.stderr))
        self.conf = os.path.join(sandbox, "petrel.conf")
        self.sandbox = sandbox
        # Many connections from one address and one user: raise the limits
        # that protect a real server from a single client (Dovecot gets the
        # same treatment with mail_max_userip_connections).
        with open(self.conf, "a") as f:
            f.write("\n# Added by bench/lib/instances.py: one client address, many connections.\n"
                    "[limits]\n"
                    "max_connections = %d\n"
                    "max_connections_per_ip = %d\n"
                    "max_connections_per_user = %d\n"
                    % (max(10000, max_clients), max_clients, min(max_clients, 100000)))

    def _start(self, service, binary):
        errpath = os.path.join(self.dir, "%s.stderr" % os.path.basename(binary))
        with open(errpath, "wb") as err:
            proc = subprocess.Popen([binary, "-c", self.conf, "-f"], stdin=subprocess.DEVNULL,
                                    stdout=err, stderr=subprocess.STDOUT,
                                    start_new_session=True, preexec_fn=_child_setup)
        self.procs[service] = proc
        ports = [self.ports[p] for p in SERVICE_PORTS[service]]
        try:
            _wait_ports(ports, [proc], START_TIMEOUT, lambda: _tail(errpath))
        except BenchError as e:
            raise BenchError("%s: %s" % (os.path.basename(binary), e))
        log("petrel: %s started (pid %d, ports %s)"
            % (os.path.basename(binary), proc.pid, ", ".join(map(str, ports))))

    @property
    def started(self):
        return sorted(self.procs)

    def pids(self, service=None):
        """Every process of one service (or of all), worker children included."""
        roots = [p.pid for s, p in self.procs.items()
                 if (service is None or s == service) and p.poll() is None]
        return descendants(roots)

    def log_tail(self, lines=40):
        return "\n".join("== %s ==\n%s" % (os.path.basename(b), _tail(
            os.path.join(self.dir, "%s.stderr" % os.path.basename(b)), lines))
            for s, b in self.DAEMONS if s in self.procs)

    def stop(self, remove=True):
        """SIGTERM every daemon, SIGKILL after STOP_TIMEOUT, remove the temp dir
        (with remove=False the files stay, e.g. to copy the data_dir after a
        clean shutdown; a later stop() removes them)."""
        pids = self.pids()
        if pids:
            killed = _terminate(pids, STOP_TIMEOUT)
            if killed:
                log("petrel: SIGKILL needed for pids %s" % killed)
        for proc in self.procs.values():
            _reap(proc)
        self.procs = {}
        if self.dir is not None and remove:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


# --------------------------------------------------------------- Dovecot

DOVECOT_CONF = """\
# Generated by bench/lib/instances.py: a self-contained Dovecot {version}
# instance for side-by-side benchmarks with Petrel. See bench/README.md.

protocols = {protocols}
listen = {host}
instance_name = {instance}
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
info_log_path = {dir}/dovecot.log

# TLS as in Petrel's sandbox: TLS 1.2+, EC P-256 self-signed certificate,
# plaintext authentication only over TLS.
ssl = yes
ssl_cert = <{dir}/tls/cert.pem
ssl_key = <{dir}/tls/key.pem
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain login

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/users
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_group} home={dir}/home/%u
}}
# The mail account is a system account (uid {uid}); the default
# first_valid_uid = 500 would refuse it.
first_valid_uid = {uid}
first_valid_gid = {gid}

mail_location = maildir:~/Maildir
# Petrel fsyncs each delivered file and its directory before answering.
mail_fsync = always

# Dovecot's default process model (login processes in high-security mode,
# one imap/pop3 process per session) with limits high enough for benchmarks.
default_process_limit = {process_limit}
default_client_limit = {client_limit}
mail_max_userip_connections = {max_clients}
{hibernate}
service imap-login {{
  inet_listener imap {{
    port = {imap}
  }}
  inet_listener imaps {{
    port = {imaps}
    ssl = yes
  }}
{login_model}  process_min_avail = {min_avail}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = {pop3s}
    ssl = yes
  }}
{login_model}  process_min_avail = {min_avail}
}}
service lmtp {{
  inet_listener lmtp {{
    address = {host}
    port = {lmtp}
  }}
}}
service imap {{
  process_limit = {max_clients}
{imap_master}}}
service pop3 {{
  process_limit = {max_clients}
}}
"""

HIBERNATE_CONF = """
# IMAP sessions idle in IDLE for 5s move into the shared imap-hibernate
# process, which keeps only the connection state.
imap_hibernate_timeout = 5s
service imap-hibernate {
  unix_listener imap-hibernate {
    mode = 0660
    group = $default_internal_group
  }
}
"""

# The hibernate process (internal user) hands a session back to a new imap
# process through imap-master.
HIBERNATE_IMAP_MASTER = """  unix_listener imap-master {
    user = $default_internal_user
  }
"""

# Dovecot's "high-performance" login mode: a few long-lived login processes
# each serving many connections, instead of one process per connection.
PERFORMANCE_LOGIN = """  service_count = 0
  client_limit = {client_limit}
  process_limit = {cpus}
"""


def dovecot_version():
    r = _run([DOVECOT, "--version"], timeout=10)
    return r.stdout.strip().split()[0] if r.returncode == 0 and r.stdout else "unknown"


class DovecotInstance:
    """Debian's Dovecot 2.3 run as `dovecot -F -c CONF` from a fresh temp dir.

    imap_model: "default" (one imap process per session) or "hibernate"
    (idle sessions in IDLE move to imap-hibernate after 5s).
    login_model: "security" (Dovecot's default: one login process per
    connection) or "performance" (service_count = 0, one login process per
    CPU serving many connections).
    max_clients: the most connections a benchmark will open at once.
    protocols: the services started (any of "imap", "pop3", "lmtp"); only
    their ports are waited for.
    extra_conf: appended to dovecot.conf (a setting given again there
    replaces the one above it).
    populate: called as populate(instance) after the configuration and the
    empty Maildir are made and before Dovecot starts, e.g. to copy a
    prepared Maildir in (attribute `maildir`; files must belong to the
    dovecot account)."""

    name = "Dovecot"

    def __init__(self, base_port=None, imap_model="default", login_model="security",
                 max_clients=2000, login_min_avail=4, protocols=("imap", "pop3", "lmtp"),
                 extra_conf="", populate=None):
        if imap_model not in ("default", "hibernate"):
            raise ValueError("imap_model must be 'default' or 'hibernate'")
        if login_model not in ("security", "performance"):
            raise ValueError("login_model must be 'security' or 'performance'")
        if os.geteuid() != 0:
            raise BenchError("Dovecot must be started as root (it drops to dovecot/dovenull)")
        if not os.access(DOVECOT, os.X_OK):
            raise BenchError("%s not found: apt-get install dovecot-imapd dovecot-pop3d "
                             "dovecot-lmtpd" % DOVECOT)
        self.base_port = base_port if base_port is not None else free_base_port()
        self.ports = ports_for(self.base_port)
        self.host = HOST
        self.user = DEMO_USER
        self.password = DEMO_PASSWORD
        self.imap_model = imap_model
        self.login_model = login_model
        self.protocols = tuple(protocols)
        if not self.protocols or any(p not in SERVICE_PORTS for p in self.protocols):
            raise ValueError("protocols must be a non-empty subset of %s" % sorted(SERVICE_PORTS))
        self.extra_conf = extra_conf
        self.version = dovecot_version()
        self.instance = "pbench%d" % self.base_port
        self.proc = None
        self.dir = tempfile.mkdtemp(prefix="petrel-bench-dovecot-")
        self.conf = os.path.join(self.dir, "dovecot.conf")
        self.log_path = os.path.join(self.dir, "dovecot.log")
        try:
            self._prepare(max_clients, login_min_avail)
            self._check_config()
            if populate is not None:
                populate(self)
            self._start()
        except BaseException:
            self.stop()
            raise

    def _prepare(self, max_clients, login_min_avail):
        try:
            pw = pwd.getpwnam("dovecot")
            gr = grp.getgrnam("dovecot")
            pwd.getpwnam("dovenull")
        except KeyError as e:
            raise BenchError("system account missing (%s): is dovecot-core installed?" % e)
        uid, gid = pw.pw_uid, gr.gr_gid
        d = self.dir
        # Login processes (dovenull), auth (dovecot) and the mail processes
        # (dovecot) all need to traverse the instance directory.
        os.chmod(d, 0o755)
        for sub in ("run", "state", "tls"):
            os.mkdir(os.path.join(d, sub), 0o755)
        os.chmod(os.path.join(d, "tls"), 0o700)
        self._make_cert(os.path.join(d, "tls"))

        users = os.path.join(d, "users")
        with open(users, "w") as f:
            f.write("%s:{PLAIN}%s\n" % (DEMO_USER, DEMO_PASSWORD))
        os.chown(users, 0, gid)
        os.chmod(users, 0o640)

        # The user's home and an empty Maildir, as a Petrel sandbox user has.
        home = os.path.join(d, "home")
        maildir = self.maildir = os.path.join(home, DEMO_USER, "Maildir")
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(maildir, sub), 0o700)
        for root, dirs, _ in os.walk(home):
            os.chown(root, uid, gid)
            for name in dirs:
                os.chown(os.path.join(root, name), uid, gid)

        cpus = os.cpu_count() or 1
        # Every login process holds a connection to auth and anvil and every
        # mail process one to anvil and stats, so client_limit of those
        # services must cover all processes; process_limit must cover one
        # login process per connection in high-security mode.
        # Dovecot counts every protocol service (imap-login, pop3-login,
        # imap-urlauth-login, lmtp) at its process_limit when checking these.
        process_limit = max_clients + 200
        client_limit = 5 * process_limit
        login_model = ""
        if self.login_model == "performance":
            login_model = PERFORMANCE_LOGIN.format(client_limit=max_clients + 100, cpus=cpus)
        conf = DOVECOT_CONF.format(
            version=self.version, host=HOST, instance=self.instance, dir=d,
            mail_user="dovecot", mail_group="dovecot", uid=uid, gid=gid,
            process_limit=process_limit, client_limit=client_limit, max_clients=max_clients,
            min_avail=min(login_min_avail, cpus) if self.login_model == "performance"
            else login_min_avail,
            hibernate=HIBERNATE_CONF if self.imap_model == "hibernate" else "",
            imap_master=HIBERNATE_IMAP_MASTER if self.imap_model == "hibernate" else "",
            login_model=login_model, protocols=" ".join(self.protocols), **self.ports)
        if self.extra_conf:
            conf += "\n# Added by the benchmark.\n%s\n" % self.extra_conf.strip()
        with open(self.conf, "w") as f:
            f.write(conf)

    @staticmethod
    def _make_cert(tls_dir):
        # The same key type as `petrelctl sandbox create` (EC P-256, SHA-256),
        # so that both servers pay the same for each handshake.
        key, cert = os.path.join(tls_dir, "key.pem"), os.path.join(tls_dir, "cert.pem")
        r = _run(["openssl", "req", "-x509", "-newkey", "ec",
                  "-pkeyopt", "ec_paramgen_curve:prime256v1", "-sha256", "-nodes",
                  "-days", "30", "-subj", "/CN=localhost",
                  "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                  "-keyout", key, "-out", cert])
        if r.returncode != 0:
            raise BenchError("openssl could not make a certificate:\n%s" % r.stderr)
        os.chmod(key, 0o600)

    def _check_config(self):
        r = _run([DOVECOT, "-c", self.conf, "-n"])
        if r.returncode != 0:
            raise BenchError("dovecot rejects %s:\n%s%s" % (self.conf, r.stderr, r.stdout))
        warnings = [l for l in r.stderr.splitlines() if l.strip()]
        for line in warnings:
            log("dovecot config: %s" % line)

    def _start(self):
        err = os.path.join(self.dir, "dovecot.stderr")
        with open(err, "wb") as f:
            self.proc = subprocess.Popen([DOVECOT, "-F", "-c", self.conf],
                                         stdin=subprocess.DEVNULL, stdout=f,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         preexec_fn=_child_setup)

        def failure():
            return "--- dovecot stderr ---\n%s\n--- %s ---\n%s" % (
                _tail(err), self.log_path, _tail(self.log_path))

        try:
            _wait_ports([self.ports[p] for s in self.protocols for p in SERVICE_PORTS[s]],
                        [self.proc], START_TIMEOUT, failure)
        except BenchError as e:
            raise BenchError("dovecot: %s" % e)
        log("dovecot %s: started (master pid %d, base port %d, %s, imap model %s, login %s)"
            % (self.version, self.proc.pid, self.base_port, "/".join(self.protocols),
               self.imap_model, self.login_model))

    def pids(self, service=None):
        """The master and every process below it; with service, only those
        whose title is INSTANCE/SERVICE (e.g. "imap-login", "imap")."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        pids = descendants([self.proc.pid])
        if service is None:
            return pids
        # Children are titled "dovecot-INSTANCE/SERVICE" (Dovecot prefixes
        # any instance_name other than "dovecot").
        want = "%s/%s" % (self.instance, service)
        return [p for p in pids if self._title(p).split(" ")[0].endswith(want)]

    @staticmethod
    def _title(pid):
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            return ""

    def _stray_pids(self):
        """Processes of this instance, found by title or by config path, even
        if they were re-parented after the master went away."""
        marks = ("-%s/" % self.instance, self.conf, self.dir)
        own = os.getpid()
        return [p for p in _all_pids() if p != own and _alive(p)
                and any(m in self._title(p) for m in marks)]

    def log_tail(self, lines=40):
        return _tail(self.log_path, lines)

    def stop(self, remove=True):
        """SIGTERM to the master (which stops its children), bounded wait,
        SIGKILL for anything of this instance still alive, remove the temp dir
        (with remove=False the files stay; a later stop() removes them)."""
        if self.proc is not None:
            pids = descendants([self.proc.pid]) if self.proc.poll() is None else []
            if pids:
                try:
                    self.proc.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
                killed = _wait_gone_or_kill(pids, STOP_TIMEOUT)
                if killed:
                    log("dovecot: SIGKILL needed for pids %s" % killed)
            _reap(self.proc)
            self.proc = None
        if self.dir is not None and remove:
            stray = self._stray_pids()
            if stray:
                log("dovecot: killing leftover processes %s" % stray)
                _terminate(stray, 5.0)
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


# --------------------------------------------------------------- clients

def tls_client_context():
    """TLS 1.2+ client context that accepts the self-signed certificates.
    Sessions are not resumed: every connection pays a full handshake."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def imap_login(port, tls_mode, user=DEMO_USER, password=DEMO_PASSWORD, host=HOST,
               timeout=IO_TIMEOUT, ssl_context=None):
    """Connects with imaplib and logs in; returns the IMAP4 object (call
    .logout()). tls_mode: "implicit" (993-style) or "starttls" (143-style).
    imaplib sends CAPABILITY after the greeting and again after STARTTLS."""
    ctx = ssl_context or tls_client_context()
    if tls_mode == "implicit":
        conn = imaplib.IMAP4_SSL(host, port, ssl_context=ctx, timeout=timeout)
    elif tls_mode == "starttls":
        conn = imaplib.IMAP4(host, port, timeout=timeout)
        try:
            conn.starttls(ssl_context=ctx)
        except BaseException:
            conn.shutdown()
            raise
    else:
        raise ValueError("tls_mode must be 'implicit' or 'starttls'")
    try:
        conn.login(user, password)
    except BaseException:
        conn.shutdown()
        raise
    return conn


def read_line(sock, timeout=IO_TIMEOUT, limit=8192):
    """One CRLF-terminated line from a plain or TLS socket, within timeout."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    data = b""
    while not data.endswith(b"\r\n"):
        if time.monotonic() > deadline:
            raise socket.timeout("no complete line within %.0fs" % timeout)
        if len(data) >= limit:
            raise ConnectionError("line longer than %d bytes: %r" % (limit, data[:100]))
        # One byte at a time: nothing after the line is consumed.
        chunk = sock.recv(1)
        if not chunk:
            raise ConnectionError("connection closed after %r" % data[:100])
        data += chunk
    return data


# --------------------------------------------------------------- measuring

class Timer:
    """with Timer() as t: ...; t.elapsed is in seconds (monotonic clock)."""

    def __init__(self):
        self.start = self.end = None

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.end = time.perf_counter()
        return False

    @property
    def elapsed(self):
        end = self.end if self.end is not None else time.perf_counter()
        return end - self.start


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def environment():
    """One line about the machine, for the top of every report."""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")),
                         "unknown CPU")
    except OSError:
        model = "unknown CPU"
    load = "/".join("%.1f" % x for x in os.getloadavg())
    return "%s, %d CPUs, Linux %s, Python %s, Dovecot %s; load average %s (1/5/15 min: " \
        "anything besides the benchmark adds noise)" % (
            model, os.cpu_count() or 1, os.uname().release, sys.version.split()[0],
            dovecot_version(), load)


def _fmt(v):
    if v is None:
        return "n/a"
    if isinstance(v, str):
        return v
    if isinstance(v, int):
        return "{:,}".format(v)
    a = abs(v)
    if a >= 1000:
        return "{:,.0f}".format(v)
    if a >= 100:
        return "%.0f" % v
    if a >= 10:
        return "%.1f" % v
    return "%.2f" % v


def ratio(petrel, dovecot, better):
    """How many times better Petrel is: Dovecot/Petrel when lower is better,
    Petrel/Dovecot when higher is better. None when not comparable."""
    if better not in ("lower", "higher") or not isinstance(petrel, (int, float)) \
            or not isinstance(dovecot, (int, float)):
        return None
    num, den = (dovecot, petrel) if better == "lower" else (petrel, dovecot)
    if den <= 0:
        return float("inf") if num > 0 else None
    return num / den


def report(title, rows, notes=()):
    """Prints an aligned table to stdout. rows: (metric, petrel, dovecot,
    better) with better "lower", "higher" or None (informational, no ratio).
    The ratio always reads "Petrel is that many times better" (below 1:
    Dovecot is better)."""
    header = ("metric", "Petrel", "Dovecot", "ratio (x, >1 = Petrel better)")
    table = []
    for metric, p, d, better in rows:
        r = ratio(p, d, better)
        if r is None:
            rs = "-"
        elif r == float("inf"):
            rs = "inf"
        else:
            rs = "%.2fx" % r if r < 10 else "%.1fx" % r if r < 100 else "%.0fx" % r
        if better in ("lower", "higher"):
            metric = "%s (%s is better)" % (metric, better)
        table.append((metric, _fmt(p), _fmt(d), rs))
    widths = [max(len(row[i]) for row in table + [header]) for i in range(4)]
    line = "-+-".join("-" * w for w in widths)

    def fmt_row(row):
        return " | ".join([row[0].ljust(widths[0])] +
                          [row[i].rjust(widths[i]) for i in range(1, 4)])

    print()
    print(title)
    print("=" * len(title))
    print("ratio = Dovecot/Petrel for lower-is-better metrics, Petrel/Dovecot for "
          "higher-is-better; 3.1x means Petrel is 3.1 times better, 0.5x means Dovecot is "
          "2 times better.")
    print(fmt_row(header))
    print(line)
    for row in table:
        print(fmt_row(row))
    for note in notes:
        print("note: %s" % note)
    sys.stdout.flush()
