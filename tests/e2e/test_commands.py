"""End to end: commands as tables. Every command's arguments are checked
against its spec before it runs (bad_request naming the argument), `help`
lists every command with its level, and swapctl builds its usage and its
positional arguments from that listing, takes options anywhere and never
prints a huge argument back."""
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import ROOT, bin_path
from swapd_fixture import Daemon, RackSim, others_can_reach, rack_config, slots_of, wait_until
from test_access import K1, K2, write_keys
from test_rack import request_as

PROFILE = os.path.join(ROOT, "config/profiles/swapd-slot-v1.json")

# What each command needs, as the issue set it out.
LEVELS = {"help": "viewer", "commands": "viewer", "status": "viewer", "slots": "viewer",
          "rack": "viewer", "scans": "viewer", "scan": "kiosk", "ticket": "staff",
          "lock": "admin", "unlock": "admin", "charge": "admin", "revoke": "admin",
          "transports": "viewer", "transport-job": "admin",
          "batteries": "viewer", "battery-quarantine": "staff", "battery-release": "staff",
          "slot-quarantine": "admin", "slot-release": "admin", "staff-session": "kiosk",
          "staff-open": "kiosk", "staff-quarantine": "kiosk", "staff-release": "kiosk",
          "staff-end": "kiosk", "staff-abort": "kiosk", "swaps": "viewer", "swap-abort": "staff", "sync": "viewer",
          "queue": "viewer", "queue-reserve": "admin", "queue-cancel": "admin",
          "queue-arrival": "admin", "faults": "viewer", "fault-ack": "staff",
          "staff-ack": "kiosk"}
# A value of each type that fits, and one of another type.
GOOD = {"int": 1, "string": "abcdefgh", "bool": True, "on-off": "off"}
WRONG = {"int": ("1", "must be an integer"), "string": (5, "must be a string"),
         "bool": ("yes", "must be true or false"), "on-off": (5, "must be on or off")}


def every_module_config(d, sim, tmp_path):
    """A station with a rack and tokens: every command is registered."""
    write_keys(str(tmp_path / "keys.json"), [("k1", K1), ("k2", K2)])
    cfg = rack_config(d, sim, PROFILE)
    cfg["tokens"] = {"keys": "keys.json", "walkin_kid": "k2"}
    return cfg


@pytest.fixture
def full(tmp_path):
    sim = RackSim(tmp_path).start()
    d = Daemon(tmp_path)
    d.write_config(every_module_config(d, sim, tmp_path))
    d.start()
    wait_until(lambda: all(s["online"] for s in slots_of(d).values()), 10, "slots online")
    yield d
    d.close()
    sim.kill()


def swapctl(d, *args, **kw):
    return subprocess.run([bin_path("swapctl"), "-s", d.sock, *args], capture_output=True,
                          text=True, timeout=20, **kw)


def listing(d):
    r = d.request("help")
    assert r["ok"], r
    return {c["name"]: c for c in r["result"]["commands"]}


def test_help_lists_every_command_with_its_level(full):
    cmds = listing(full)
    assert {n: c["level"] for n, c in cmds.items()} == LEVELS
    assert [a["name"] for a in cmds["charge"]["args"]] == ["slot", "on"]
    assert cmds["unlock"]["args"] == [{"name": "slot", "type": "int", "required": True,
                                       "min": 1, "max": 999}]
    assert full.request("commands")["result"] == full.request("help")["result"]


def test_wrong_arguments_are_refused_naming_them(full):
    """For each command and each of its arguments: a value of another type,
    and leaving out a required one, get bad_request naming it; an argument
    no command has too. Nothing is audited: no handler ran."""
    checked = 0
    for name, c in listing(full).items():
        good = {a["name"]: GOOD[a["type"]] for a in c["args"]}
        for a in c["args"]:
            value, says = WRONG[a["type"]]
            r = full.request(name, **dict(good, **{a["name"]: value}))
            assert r["error"] == "bad_request" and r["message"] == f'"{a["name"]}": {says}', r
            checked += 1
            if a["required"]:
                r = full.request(name, **{k: v for k, v in good.items() if k != a["name"]})
                assert r["message"] == f'"{a["name"]}" is missing', r
        r = full.request(name, **dict(good, bogus=1))
        assert r["error"] == "bad_request", r
        assert r["message"] == f'"bogus": "{name}" takes no such argument', r
    assert checked >= 8
    assert full.request("unlock", slot=1000)["message"] == '"slot": must be 1..999'
    assert full.request("reboot")["error"] == "unknown_command"
    assert full.sql("SELECT count(*) FROM audit")[0][0] == 0


def test_swapctl_help_and_usage_come_from_the_daemon(full):
    r = swapctl(full, "help")
    assert r.returncode == 0, r.stderr
    lines = {l.split()[0]: l.split() for l in r.stdout.splitlines()}
    for name, level in LEVELS.items():
        assert level in lines[name], (name, lines.get(name))
    assert lines["charge"][:4] == ["charge", "SLOT", "on|off", "admin"]
    assert lines["scans"][:3] == ["scans", "[LIMIT]", "viewer"]
    r = swapctl(full)
    assert r.returncode == 64 and "charge SLOT on|off" in r.stderr and "usage:" in r.stderr
    r = swapctl(full, "--help")
    assert r.returncode == 0 and "revoke NONCE EXP" in r.stdout
    gone = subprocess.run([bin_path("swapctl"), "-s", full.sock + ".none"], capture_output=True,
                          text=True, timeout=20)
    assert gone.returncode == 64 and "swapctl help" in gone.stderr


def test_swapctl_options_anywhere_and_positional_args(full):
    for args in (["slots", "--json"], ["--json", "slots"]):
        r = swapctl(full, *args)
        assert r.returncode == 0, r.stderr
        assert len(json.loads(r.stdout)["slots"]) == 4
    r = swapctl(full, "charge", "1", "on")
    assert r.returncode == 0 and "charge on done" in r.stdout, r.stderr
    r = swapctl(full, "charge", "slot=1", "on=off", "--timeout", "5000")
    assert r.returncode == 0 and "charge off done" in r.stdout, r.stderr
    r = swapctl(full, "unlock", "2")
    assert r.returncode == 0, r.stderr
    r = swapctl(full, "--json", "scan", "hello")
    assert r.returncode == 0 and json.loads(r.stdout)["result"] == "malformed", r.stderr
    r = swapctl(full, "scan", "12345")  # a string argument stays a string
    assert r.returncode == 0, r.stderr
    r = swapctl(full, "unlock", "two")
    assert r.returncode == 1 and '"slot": must be an integer' in r.stderr
    r = swapctl(full, "unlock", "1", "2")
    assert r.returncode == 64 and "one argument too many: unlock SLOT" in r.stderr
    r = swapctl(full, "reboot", "now")  # the daemon says there is no such command
    assert r.returncode == 1 and "unknown_command" in r.stderr
    assert full.sql("SELECT what FROM audit ORDER BY rowid") == [
        ("charge on",), ("charge off",), ("unlock",)]


def test_swapctl_two_word_commands_and_all(full):
    """The issue's spelling: `swapctl faults --all`, `swapctl fault ack ID`."""
    r = swapctl(full, "--json", "faults", "--all")
    assert r.returncode == 0 and json.loads(r.stdout)["faults"] == [], r.stderr
    r = swapctl(full, "faults")
    assert r.returncode == 0 and r.stdout == "no open faults\n", (r.stdout, r.stderr)
    r = swapctl(full, "fault", "ack", "99")
    assert r.returncode == 1 and "unknown_ticket" in r.stderr, (r.stdout, r.stderr)
    r = swapctl(full, "fault", "nonsense")
    assert r.returncode == 1 and "unknown_command" in r.stderr


def test_a_huge_argument_is_never_echoed(full):
    big = "x" * 100_000
    for args in (["unlock", "1", big], ["status", big + "=1"], ["scan", big],
                 [big[:60_000]], ["--" + big, "status"]):
        r = swapctl(full, *args)
        assert r.returncode != 0
        assert len(r.stdout) + len(r.stderr) < 600, (args[0][:10], r.stderr[:200])
    s = full.connect()
    s.sendall(json.dumps({"cmd": "status", "args": {big[:60_000]: 1}}).encode() + b"\n")
    buf = s.recv(65536)
    assert len(buf) < 300 and json.loads(buf)["error"] == "bad_request"
    s.close()


def test_kiosk_group_may_scan_but_not_unlock(tmp_path):
    """control.kiosk_group gives its members the kiosk level, looked up in
    /etc/group: a member may scan, not unlock; the message names the level
    and group needed."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run a peer under another uid")
    sockdir = tempfile.mkdtemp(prefix="swapd-kiosk-")
    os.chmod(sockdir, 0o755)
    if not others_can_reach(sockdir + "/x"):
        shutil.rmtree(sockdir)
        pytest.skip(f"{sockdir} is out of reach of other users")
    sim = RackSim(tmp_path).start()
    d = Daemon(tmp_path)
    cfg = every_module_config(d, sim, tmp_path)
    cfg["control"]["socket"] = d.sock = os.path.join(sockdir, "control.sock")
    cfg["control"]["kiosk_group"] = "nogroup"  # gid 65534 in Debian's /etc/group
    d.write_config(cfg)
    try:
        d.start()
        os.chown(d.sock, 0, 65534)
        r = request_as(65534, 65534, d.sock, "scan", token="hello")
        assert r["ok"] and r["result"]["result"] == "malformed", r
        r = request_as(65534, 65534, d.sock, "unlock", slot=1)
        assert r["error"] == "forbidden", r
        assert r["message"] == '"unlock" needs admin rights (group swapd-admin); this client has kiosk'
        r = request_as(65534, 65534, d.sock, "ticket")
        assert r["error"] == "forbidden" and "staff rights (group none)" in r["message"], r
    finally:
        d.close()
        sim.kill()
        shutil.rmtree(sockdir, ignore_errors=True)
