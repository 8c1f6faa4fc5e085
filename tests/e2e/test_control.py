"""End to end: the control socket's safety rules against the real swapd:
what a reply may echo of a request, idle clients, room for admins, and
clients that half-close their connection."""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile

import pytest

from conftest import ROOT, bin_path
from swapd_fixture import (Daemon, RackSim, others_can_reach, rack_config, read_reply, slots_of,
                           wait_until)


@pytest.fixture
def daemon(tmp_path):
    d = Daemon(tmp_path)
    yield d
    d.close()


def raw_reply(s, line):
    """Sends one raw request line; returns the reply's bytes and the reply."""
    s.sendall(line + b"\n")
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        assert chunk, f"connection closed after {buf!r}"
        buf += chunk
    return buf, json.loads(buf)


def test_command_name_with_nul_is_not_that_command(daemon):
    daemon.start()
    s = daemon.connect()
    _, reply = raw_reply(s, b'{"cmd":"status\\u0000junk","id":7}')
    assert reply["ok"] is False and reply["error"] == "unknown_command", reply
    assert reply["id"] == 7
    assert "\x00" not in reply["message"] and "status?junk" in reply["message"]
    s.close()


@pytest.mark.parametrize("name", [b"\xff\xfe", b"st\xc3", b"\xc0\xaf", b"\xed\xa0\x80",
                                  b"a\\u001b[31mb", b"\xc2\x9b31m", b"a\\u007fb"])
def test_unknown_command_never_echoes_invalid_utf8_or_controls(daemon, name):
    daemon.start()
    s = daemon.connect()
    raw, reply = raw_reply(s, b'{"cmd":"' + name + b'"}')
    assert reply["error"] == "unknown_command", reply
    raw.decode("utf-8")  # strict: the whole reply line is valid UTF-8
    msg = reply["message"]
    assert all(c >= " " and not "\x7f" <= c <= "\x9f" for c in msg), msg
    s.close()


def test_unknown_command_echo_is_capped(daemon):
    daemon.start()
    s = daemon.connect()
    # a valid multi-byte name longer than the cap: cut on a character
    _, reply = raw_reply(s, json.dumps({"cmd": "é" * 30000}, ensure_ascii=False).encode())
    assert reply["error"] == "unknown_command"
    assert len(reply["message"].encode()) < 100
    assert "é" * 32 in reply["message"]
    s.close()


def swapctl(daemon, *args):
    return subprocess.run([bin_path("swapctl"), "-s", daemon.sock, *args],
                          capture_output=True, text=True, timeout=20)


def test_idle_clients_cannot_keep_an_admin_out(daemon):
    """16 idle connections fill control.max_clients; the test's own user is an
    admin (root, or the user swapd runs as), so its swapctl takes the place
    of the longest idle one. A client in the middle of a line is not idle."""
    cfg = daemon.default_config()
    cfg["control"]["io_timeout_ms"] = 20000  # the mid-line client must outlive the test
    daemon.write_config(cfg)
    daemon.start()
    midline = daemon.connect()
    midline.sendall(b'{"cmd": "status"}\n{"cmd": "sta')
    assert read_reply(midline)["ok"]  # so the daemon holds the half line
    idle = []
    for _ in range(15):
        s = daemon.connect()
        assert daemon.request("status", conn=s)["ok"]  # accepted, in this order
        idle.append(s)
    r = swapctl(daemon, "status")
    assert r.returncode == 0, r.stderr
    assert daemon.wait_log(lambda l: "to make room for admin" in l) is not None
    assert idle[0].recv(10) == b""  # the longest idle went
    assert daemon.request("status", conn=idle[1])["ok"]
    midline.sendall(b'tus"}\n')
    assert read_reply(midline)["ok"]
    for s in [midline] + idle:
        s.close()


def test_idle_clients_are_dropped(daemon):
    cfg = daemon.default_config()
    cfg["control"]["idle_timeout_ms"] = 300
    daemon.write_config(cfg)
    daemon.start()
    s = daemon.connect()
    assert daemon.request("status", conn=s)["ok"]
    assert daemon.wait_log(lambda l: "idle for 300 ms" in l) is not None
    assert s.recv(10) == b""
    s.close()


HOLDER = """
import json, socket, sys
path, n = sys.argv[1], int(sys.argv[2])
held = []
for _ in range(n + 1):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    held.append(s)
# the daemon accepts in order: the first n took every slot
buf = b""
while not buf.endswith(b"\\n"):
    chunk = held[-1].recv(4096)
    if not chunk:
        break
    buf += chunk
print(buf.decode().strip(), flush=True)
sys.stdin.read()
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to connect as another, non-admin user")
def test_non_admin_idle_clients_cannot_keep_root_out(tmp_path):
    """What the issue saw: another user fills every slot with idle
    connections. That user gets busy; root still gets in."""
    sockdir = tempfile.mkdtemp(prefix="swapd-ctl-")  # reachable by nobody, unlike tmp_path
    os.chmod(sockdir, 0o711)
    if not others_can_reach(sockdir + "/x") or not others_can_reach(sys.executable):
        shutil.rmtree(sockdir)
        pytest.skip(f"{sockdir} or {sys.executable} is out of reach of other users")
    d = Daemon(tmp_path)
    d.sock = os.path.join(sockdir, "control.sock")
    cfg = d.default_config()
    cfg["control"]["admin_group"] = ""  # only root and swapd's own user (root)
    d.write_config(cfg)
    holder = None
    try:
        d.start()
        os.chown(d.sock, -1, 65534)
        holder = subprocess.Popen([sys.executable, "-c", HOLDER, d.sock, "16"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  user=65534, group=65534, extra_groups=[], text=True)
        busy = json.loads(holder.stdout.readline())
        assert busy["error"] == "busy", busy
        r = swapctl(d, "status")
        assert r.returncode == 0, r.stderr
        assert d.wait_log(lambda l: "uid 65534" in l and "to make room for admin uid 0" in l)
    finally:
        if holder:
            holder.stdin.close()
            holder.wait(10)
        d.close()
        shutil.rmtree(sockdir)


def read_to_eof(s):
    buf = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return buf
        buf += chunk


def test_half_closed_client_is_answered_and_its_unlock_runs(tmp_path):
    """A client that sends its request and shuts down its sending side gets
    the answer to a command answered at once; a deferred one (unlock) still
    runs, audited first, though the reply may find the client gone."""
    sim = RackSim(tmp_path).start()
    d = Daemon(tmp_path)
    try:
        d.write_config(rack_config(d, sim, os.path.join(ROOT, "config/profiles/swapd-slot-v1.json")))
        d.start()
        wait_until(lambda: all(s["online"] for s in slots_of(d).values()), 10, "slots online")
        s = d.connect()
        s.sendall(b'{"cmd": "status", "id": 1}\n')
        s.shutdown(socket.SHUT_WR)
        reply = json.loads(read_to_eof(s))
        assert reply["ok"] and reply["id"] == 1
        s.close()

        assert sim.op("get", slot=1)["registers"]["holding"][0] == 1  # locked
        s = d.connect()
        s.sendall(b'{"cmd": "unlock", "args": {"slot": 1}}\n')
        s.shutdown(socket.SHUT_WR)
        got = read_to_eof(s)
        assert got == b"" or json.loads(got)["ok"], got
        s.close()
        assert d.sql("SELECT what, detail FROM audit") == [("unlock", "slot 1 unlock")]
        wait_until(lambda: sim.op("get", slot=1)["registers"]["holding"][0] == 0, 5, "unlocked")
    finally:
        d.close()
        sim.kill()
