"""Starting the real swapd for a test, and talking to it.

A Daemon owns a temporary directory with its config, database, control
socket and a notify socket bound by the test (playing systemd), so that
READY=1, STATUS= and WATCHDOG=1 are read exactly as systemd would get them.
"""
import json
import os
import signal
import socket
import sqlite3
import subprocess
import time

from conftest import bin_path, read_line, wait_line


def wait_until(pred, timeout, what):
    """Waits for a condition the test cannot be told about directly (a row in
    a database another process writes), checking it every few ms."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.005)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def others_can_reach(path):
    """Whether a user with no rights here can get to path: every directory
    above it searchable by others. Not so in a root made by mktemp (mode
    0700), where a test that runs a peer as another uid has to skip."""
    d = os.path.dirname(os.path.abspath(path))
    while True:
        if not os.stat(d).st_mode & 0o001:
            return False
        if d == "/":
            return True
        d = os.path.dirname(d)


class Daemon:
    def __init__(self, tmp, config=None, watchdog_usec=None, extra_env=None):
        self.dir = str(tmp)
        self.sock = os.path.join(self.dir, "control.sock")
        self.db = os.path.join(self.dir, "swapd.db")
        self.config_path = os.path.join(self.dir, "swapd.json")
        self.config = config or self.default_config()
        self.write_config(self.config)
        self.notify_path = os.path.join(self.dir, "notify.sock")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        self.watchdog_usec = watchdog_usec
        self.extra_env = extra_env or {}
        self.proc = None
        self.stderr_lines = []

    def default_config(self):
        return {
            "station": {"id": "ST-TEST-1", "name": "test"},
            "log": {"level": "info"},
            "control": {"socket": self.sock, "io_timeout_ms": 500},
            "store": {"path": self.db},
        }

    def write_config(self, cfg):
        text = cfg if isinstance(cfg, str) else json.dumps(cfg, indent=1)
        with open(self.config_path + ".new", "w") as f:
            f.write(text)
        os.replace(self.config_path + ".new", self.config_path)

    def start(self, wait_ready=True):
        env = dict(os.environ, NOTIFY_SOCKET=self.notify_path, **self.extra_env)
        env.pop("JOURNAL_STREAM", None)
        if self.watchdog_usec:
            env["WATCHDOG_USEC"] = str(self.watchdog_usec)
        self.proc = subprocess.Popen([bin_path("swapd"), "-c", self.config_path],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=env)
        if wait_ready:
            msg = self.wait_notify(lambda m: "READY=1" in m, 10)
            assert msg is not None, "no READY=1 from swapd: " + self.drain_stderr()
        return self

    def wait_notify(self, pred, timeout):
        """The first notify datagram matching pred, or None."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.notify.settimeout(left)
            try:
                msg = self.notify.recv(4096).decode()
            except socket.timeout:
                return None
            if pred(msg):
                return msg

    def wait_log(self, pred, timeout=5):
        """Reads swapd's stderr until a line matches; returns it or None."""
        return wait_line(self.proc.stderr, pred, timeout, self.stderr_lines)

    def drain_stderr(self):
        while True:
            line = read_line(self.proc.stderr, 0.2)
            if line is None:
                break
            self.stderr_lines.append(line)
        return "\n".join(self.stderr_lines)

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(self.sock)
        return s

    def request(self, cmd, conn=None, **args):
        """Sends one request and returns the parsed reply."""
        own = conn is None
        s = conn or self.connect()
        try:
            s.sendall((json.dumps({"cmd": cmd, "args": args}) + "\n").encode())
            return read_reply(s)
        finally:
            if own:
                s.close()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=2):
        """SIGTERM; returns (exit code, seconds it took)."""
        if self.proc is None or self.proc.poll() is not None:
            return (self.proc.returncode if self.proc else None, 0)
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return (None, timeout)
        return (self.proc.returncode, time.monotonic() - t0)

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.notify.close()

    def sql(self, query):
        with sqlite3.connect(self.db, timeout=5) as db:
            return db.execute(query).fetchall()


def read_reply(s, timeout=5):
    """One reply line from a control connection, parsed."""
    s.settimeout(timeout)
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed after {buf!r}")
        buf += chunk
    return json.loads(buf)


class RackSim:
    """tools/rack-sim on a pty at DIR/bus, with its control socket."""

    def __init__(self, tmp, slots=4, baud=115200, profile=None, extra=()):
        self.dir = str(tmp)
        self.link = os.path.join(self.dir, "bus")
        self.ctl_path = os.path.join(self.dir, "sim.sock")
        self.args = [bin_path("rack-sim"), "--slots", str(slots), "--link", self.link,
                     "--baud", str(baud), "--control", self.ctl_path, *extra]
        if profile:
            self.args += ["--profile", profile]
        self.proc = None
        self.conn = None

    def start(self):
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        line = read_line(self.proc.stdout, 10)
        assert line and line.startswith("rack-sim: ready"), f"rack-sim did not start: {line!r}"
        self.conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.conn.settimeout(5)
        self.conn.connect(self.ctl_path)
        return self

    def op(self, op, **args):
        self.conn.sendall((json.dumps(dict(op=op, **args)) + "\n").encode())
        reply = read_reply(self.conn)
        assert reply.get("ok"), f"rack-sim {op} {args}: {reply}"
        return reply

    def kill(self):
        if self.conn:
            self.conn.close()
            self.conn = None
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    close = kill


def rack_config(daemon, sim, profile, slots=4, auto_charge=False, **rack):
    """daemon's default config with a rack section for sim. Automatic
    charging is off unless asked for: a test of what swapd reads compares
    values that charging would move between two reads."""
    cfg = daemon.default_config()
    cfg["charge"] = {"auto": auto_charge}
    # A pty has no parity bit: Debian's libmodbus then refuses to open it
    # a second time with even parity (the setting does not stick), which a
    # test that restarts swapd on the same rack-sim would meet.
    cfg["rack"] = dict({
        "device": sim.link, "baud": 115200, "parity": "none", "profile": profile,
        "response_timeout_ms": 300, "offline_after": 2, "poll_interval_ms": 50,
        "slow_every": 2, "heartbeat_ms": 500, "reconnect_ms": 200,
        "slots": [{"slot": i, "unit": i} for i in range(1, slots + 1)],
    }, **rack)
    return cfg


def slots_of(daemon):
    """The slot table as swapd reports it, by slot number."""
    reply = daemon.request("slots")
    assert reply["ok"], reply
    return {s["slot"]: s for s in reply["result"]["slots"]}
