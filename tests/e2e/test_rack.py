"""End to end: swapd polling rack-sim over a pty, as it polls a real rack
over RS-485: values, offline and back, a vanished serial device, commands
reaching the controllers' registers, a second vendor's register profile."""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile

import pytest

from conftest import ROOT, bin_path
from swapd_fixture import Daemon, others_can_reach, RackSim, rack_config, read_reply, slots_of, wait_until

PROFILE = os.path.join(ROOT, "config/profiles/swapd-slot-v1.json")
VENDOR_B = os.path.join(ROOT, "config/profiles/vendor-b.json")


@pytest.fixture
def sim(tmp_path):
    s = RackSim(tmp_path).start()
    yield s
    s.kill()


@pytest.fixture
def station(tmp_path, sim):
    d = Daemon(tmp_path)
    d.write_config(rack_config(d, sim, PROFILE))
    d.start()
    wait_until(lambda: all(s["online"] for s in slots_of(d).values()), 10, "slots online")
    yield d
    d.close()


def compare(slot, truth):
    """swapd's view of a slot against the simulator's own values."""
    bat = truth["battery"]
    assert slot["battery"] == f"BAT-{bat['id']:05d}"
    assert slot["door"] == ("open" if truth["door_open"] else "closed")
    assert slot["lock"] == ("locked" if truth["lock_closed"] else "unlocked")
    assert slot["soc"] == pytest.approx(bat["soc"], abs=0.2)
    assert slot["soh"] == pytest.approx(bat["soh"], abs=0.2)
    assert slot["v"] == pytest.approx(bat["voltage"], abs=0.05)
    assert slot["i"] == pytest.approx(bat["current"], abs=0.05)
    assert slot["t"] == pytest.approx(bat["temperature"], abs=0.2)
    assert slot["cell_min"] == pytest.approx(bat["cell_min"], abs=0.002)
    assert slot["cell_max"] == pytest.approx(bat["cell_max"], abs=0.002)
    assert slot["resistance_mohm"] == pytest.approx(bat["resistance"], abs=0.2)


def test_values_match_simulator(station, sim):
    sim.op("battery", battery=42, soc=63.5, temperature=31.0)
    sim.op("insert", slot=2, battery=42, force=True)
    wait_until(lambda: slots_of(station)[2]["battery"] == "BAT-00042", 10, "battery seen")
    # the health registers are read every other cycle: wait for a read
    # newer than the simulator's snapshot, then compare
    truth = sim.op("get", slot=2)
    seen = slots_of(station)[2]["health_read_at"]
    wait_until(lambda: slots_of(station)[2]["health_read_at"] > seen, 10, "a fresh read")
    s = slots_of(station)
    compare(s[2], truth)
    assert s[2]["state"] == "idle" and s[2]["online"]
    assert s[1]["state"] == "empty" and s[1]["battery"] is None
    r = subprocess.run([bin_path("swapctl"), "-s", station.sock, "slots"], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 0
    row = next(l for l in r.stdout.splitlines() if l.split()[0] == "2")
    assert "BAT-00042" in row and "idle" in row


def test_json_values_at_register_resolution(station, sim):
    """Each value is printed at its register's resolution (the profile's
    scale), never as the double nearest to it ("soh":90.100000000000009)."""
    sim.op("battery", battery=43, soc=63.1, temperature=31.3)
    sim.op("insert", slot=1, battery=43, force=True)
    wait_until(lambda: slots_of(station)[1]["battery"] == "BAT-00043", 10, "battery seen")
    seen = slots_of(station)[1]["health_read_at"]
    wait_until(lambda: slots_of(station)[1]["health_read_at"] > seen, 10, "a fresh read")
    r = subprocess.run([bin_path("swapctl"), "-s", station.sock, "--json", "slots"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    # swapd-slot-v1: soc, soh, t, resistance in 0.1; v, i in 0.01; cells in 0.001
    most = {"soc": 1, "soh": 1, "t": 1, "resistance_mohm": 1, "v": 2, "i": 2,
            "cell_min": 3, "cell_max": 3}
    found = re.findall(r'"(\w+)": ?(-?\d+)\.(\d+)', r.stdout)
    assert {k for k, _, _ in found} >= set(most), r.stdout
    for key, whole, frac in found:
        assert len(frac) <= most[key], f"{key}: {whole}.{frac} in {r.stdout}"
    assert json.loads(r.stdout)  # still valid JSON


def test_silenced_slot_goes_offline_and_back(station, sim):
    sim.op("silence", slot=3, on=True)
    wait_until(lambda: slots_of(station)[3]["state"] == "offline", 10, "slot 3 offline")
    s = slots_of(station)
    assert not s[3]["online"] and s[3]["read_at"]  # last values kept, with their time
    stale = s[3]["read_at"]
    # the others keep being read while slot 3 is silent
    other = s[1]["read_at"]
    wait_until(lambda: slots_of(station)[1]["read_at"] > other, 5, "slot 1 still polled")
    assert slots_of(station)[3]["read_at"] == stale
    assert station.request("status")["result"]["health"] == "degraded"
    sim.op("silence", slot=3, on=False)
    wait_until(lambda: slots_of(station)[3]["online"], 10, "slot 3 back")
    assert slots_of(station)[3]["state"] == "empty"
    assert station.wait_log(lambda l: "slot 3 (unit 3) online" in l, 5)


def test_simulator_restart_is_recovered(tmp_path, station, sim):
    pid = station.proc.pid
    sim.kill()
    wait_until(lambda: not any(s["online"] for s in slots_of(station).values()), 10,
               "all slots offline")
    assert station.request("status")["result"]["health"] == "failed"
    again = RackSim(tmp_path).start()
    try:
        wait_until(lambda: all(s["online"] for s in slots_of(station).values()), 15,
                   "slots online again")
        assert station.proc.pid == pid and station.proc.poll() is None
        assert station.request("status")["result"]["health"] == "ok"
        # the dead line was logged when it changed, not once per retry: gone
        # and back alternate (a loaded machine may see the dead simulator's
        # pty open once more before it is gone for good: two real changes)
        log = station.drain_stderr().splitlines()
        changes = ["gone" if "serial device gone" in l else "back" for l in log
                   if "serial device gone" in l or "serial device back" in l]
        assert changes and changes == ["gone", "back"] * (len(changes) // 2), "\n".join(log)
        assert len(changes) <= 4, "\n".join(log)
    finally:
        again.kill()


def test_commands_reach_registers(station, sim):
    assert sim.op("get", slot=1)["registers"]["holding"][0] == 1  # locked
    r = station.request("unlock", slot=1)
    assert r["ok"] and r["result"] == {"slot": 1, "done": "unlock"}
    assert sim.op("get", slot=1)["registers"]["holding"][0] == 0
    assert station.request("lock", slot=1)["ok"]
    assert sim.op("get", slot=1)["registers"]["holding"][0] == 1
    assert station.request("charge", slot=1, on="on")["ok"]
    assert sim.op("get", slot=1)["registers"]["holding"][1] == 1
    assert station.request("charge", slot=1, on=False)["ok"]
    assert sim.op("get", slot=1)["registers"]["holding"][1] == 0
    # every command is in the audit trail, decided before it was sent
    whats = [w for (w,) in station.sql("SELECT what FROM audit ORDER BY id")]
    assert whats == ["unlock", "lock", "charge on", "charge off"]
    assert station.request("unlock", slot=99)["error"] == "unknown_slot"
    assert station.request("charge", slot=1, on="maybe")["error"] == "bad_request"
    r = subprocess.run([bin_path("swapctl"), "-s", station.sock, "unlock", "2"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and r.stdout.strip() == "slot 2: unlock done"


def request_as(uid, gid, sock, cmd, **args):
    """One control request from a forked child running as uid:gid with no
    supplementary groups. The child executes nothing, so it needs no access
    to the build tree (a clone under /root is out of reach of other users)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5)
            s.connect(sock)
            s.sendall((json.dumps({"cmd": cmd, "args": args}) + "\n").encode())
            out = json.dumps(read_reply(s))
        except BaseException as e:  # reported to the parent, never raised in the fork
            out = json.dumps({"child_failed": repr(e)})
        try:
            os.write(w, out.encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    reply = json.loads(data)
    assert "child_failed" not in reply, reply["child_failed"]
    return reply


def test_commands_need_admin(tmp_path, sim):
    if os.geteuid() != 0:
        pytest.skip("needs root: swapd takes a peer with its own uid for an admin, and only "
                    "root can run a peer under another uid")
    # a user who may reach the socket (by its group) but is no admin; the
    # socket lives where that user can get to it
    sockdir = tempfile.mkdtemp(prefix="swapd-admin-")
    os.chmod(sockdir, 0o755)
    if not others_can_reach(sockdir + "/x"):
        shutil.rmtree(sockdir)
        pytest.skip(f"{sockdir} is out of reach of other users (a directory above is 0700)")
    d = Daemon(tmp_path)
    cfg = rack_config(d, sim, PROFILE)
    cfg["control"]["socket"] = d.sock = os.path.join(sockdir, "control.sock")
    d.write_config(cfg)
    try:
        d.start()
        os.chown(d.sock, 0, 65534)
        r = request_as(65534, 65534, d.sock, "unlock", slot=1)
        assert not r["ok"] and r["error"] == "forbidden", r
        r = request_as(65534, 65534, d.sock, "status")
        assert r["ok"], r
        assert d.sql("SELECT count(*) FROM audit")[0][0] == 0
    finally:
        d.close()
        shutil.rmtree(sockdir, ignore_errors=True)


def test_telemetry_ring_is_bounded(tmp_path, sim):
    d = Daemon(tmp_path)
    d.write_config(rack_config(d, sim, PROFILE, telemetry_interval_ms=100, telemetry_rows=100))
    try:
        d.start()
        wait_until(lambda: d.sql("SELECT coalesce(max(id), 0) FROM telemetry")[0][0] > 160, 20,
                   "telemetry samples")
        assert d.sql("SELECT count(*) FROM telemetry")[0][0] <= 100
        rows = d.sql("SELECT slot, state, read_at FROM telemetry ORDER BY id DESC LIMIT 4")
        assert sorted(r[0] for r in rows) == [1, 2, 3, 4]
        assert all(r[1] == "empty" and r[2] for r in rows)
        assert d.stop()[0] == 0
    finally:
        d.close()


def test_bad_profile_is_a_config_error(tmp_path, sim):
    prof = json.load(open(PROFILE))
    prof["fields"]["soh"]["addr"] = prof["fields"]["soc"]["addr"]
    bad = tmp_path / "bad-profile.json"
    bad.write_text(json.dumps(prof))
    d = Daemon(tmp_path)
    d.write_config(rack_config(d, sim, str(bad), baud=12345))
    try:
        r = subprocess.run([bin_path("swapd"), "-t", "-c", d.config_path], capture_output=True,
                           text=True, timeout=10)
        assert r.returncode == 78
        assert "rack.baud: 12345 is not a standard rate" in r.stderr.splitlines()
        assert any(l.startswith(f"rack.profile: {bad}: fields.soh: registers") and
                   "overlap fields.soc" in l for l in r.stderr.splitlines()), r.stderr
    finally:
        d.close()


def test_second_vendor_profile(tmp_path):
    sim = RackSim(tmp_path, profile=VENDOR_B).start()
    d = Daemon(tmp_path)
    try:
        d.write_config(rack_config(d, sim, VENDOR_B))
        d.start()
        sim.op("battery", battery=77, soc=81.0, temperature=29.5)
        sim.op("insert", slot=4, battery=77, force=True)
        wait_until(lambda: slots_of(d)[4]["battery"] == "BAT-00077", 10, "battery seen")
        truth = sim.op("get", slot=4)
        seen = slots_of(d)[4]["health_read_at"]
        wait_until(lambda: slots_of(d)[4]["health_read_at"] > seen, 10, "a fresh read")
        compare(slots_of(d)[4], truth)
        assert d.request("unlock", slot=4)["ok"]
        assert not sim.op("get", slot=4)["lock_actuator"]
    finally:
        d.close()
        sim.kill()


@pytest.mark.parametrize("field,change,message", [
    # issue 9: "charge 1 off" answered ok while the charger stayed on
    ("charge_enable", {"offset": -1},
     "fields.charge_enable: scale 1 and offset -1 write 0 as register value 1 and 1 as 2"),
    # issue 9: 119 failed heartbeat writes in 24 s
    ("heartbeat", {"scale": 0.001}, "fields.heartbeat: 66 is no exact u16 value"),
    # issue 9: an open door shown as closed
    ("door", {"scale": -1}, "fields.door: scale -1 and offset 0 read register 0 as 0 and 1 as -1"),
])
def test_profile_changing_a_meaning_is_a_config_error(tmp_path, sim, field, change, message):
    prof = json.load(open(PROFILE))
    prof["fields"][field].update(change)
    bad = tmp_path / "bad-profile.json"
    bad.write_text(json.dumps(prof))
    d = Daemon(tmp_path)
    d.write_config(rack_config(d, sim, str(bad)))
    try:
        r = subprocess.run([bin_path("swapd"), "-t", "-c", d.config_path], capture_output=True,
                           text=True, timeout=10)
        assert r.returncode == 78
        assert r.stderr.startswith(f"rack.profile: {bad}: {message}"), r.stderr
        assert len(r.stderr.splitlines()) == 1
    finally:
        d.close()


def test_inverted_profile(tmp_path):
    # a controller whose door, lock sensor and lock command mean the
    # opposite of ours: rack-sim serves it, swapd reads and drives it
    prof = json.load(open(PROFILE))
    for f in ("door", "lock", "lock_cmd"):
        del prof["fields"][f]["scale"], prof["fields"][f]["offset"]
        prof["fields"][f]["invert"] = True
    path = str(tmp_path / "inverted.json")
    with open(path, "w") as f:
        json.dump(prof, f)
    sim = RackSim(tmp_path, profile=path).start()
    d = Daemon(tmp_path)
    try:
        d.write_config(rack_config(d, sim, path))
        d.start()
        wait_until(lambda: all(s["online"] for s in slots_of(d).values()), 10, "slots online")
        truth = sim.op("get", slot=3)
        assert slots_of(d)[3]["door"] == ("open" if truth["door_open"] else "closed")
        assert slots_of(d)[3]["lock"] == ("locked" if truth["lock_closed"] else "unlocked")
        assert d.request("unlock", slot=3)["ok"]
        assert not sim.op("get", slot=3)["lock_actuator"]
        assert d.request("lock", slot=3)["ok"]
        assert sim.op("get", slot=3)["lock_actuator"]
    finally:
        d.close()
        sim.kill()
