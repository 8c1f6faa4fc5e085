"""End to end: swapd with GPIO lock relays, a door sensor and the emergency
stop on the simulated chip (drivers/DRIVERS.md), beside a rack-sim rack."""
import os
import socket

import pytest

from conftest import ROOT
from swapd_fixture import Daemon, RackSim, rack_config, slots_of, wait_until

PROFILE = os.path.join(ROOT, "config/profiles/swapd-slot-v1.json")


class Chip:
    """The test's end of swapd's simulated GPIO chip."""

    def __init__(self, tmp):
        self.path = os.path.join(str(tmp), "gpio.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(os.path.join(str(tmp), "gpio-test.sock"))
        self.sock.settimeout(5)

    def state(self):
        self.sock.sendto(b"?", self.path)
        reply = self.recv("state")
        return dict(w.split("=") for w in reply.split()[1:])

    def set(self, text):
        self.sock.sendto(text.encode(), self.path)

    def recv(self, kind):
        while True:
            msg = self.sock.recv(2048).decode()
            assert not msg.startswith("error"), msg
            if msg.startswith(kind):
                return msg


@pytest.fixture
def station(tmp_path):
    sim = RackSim(tmp_path).start()
    chip = Chip(tmp_path)
    d = Daemon(tmp_path)
    cfg = rack_config(d, sim, PROFILE)
    cfg["rack"]["slots"][1]["lock"] = "gpio"
    cfg["gpio"] = {"chip": "sim:" + chip.path, "lines": [
        {"role": "lock", "slot": 2, "line": "lock-2", "debounce_ms": 0},
        {"role": "door", "slot": 3, "line": "door-3", "active_low": True, "debounce_ms": 0},
        {"role": "estop", "line": "estop", "debounce_ms": 0},
        {"role": "light", "line": "ready"},
    ]}
    d.write_config(cfg)
    d.start()
    wait_until(lambda: all(s["online"] for s in slots_of(d).values()), 10, "slots online")
    d.sim, d.chip = sim, chip
    yield d
    d.close()
    sim.kill()


def test_gpio_lock_door_and_estop(station):
    chip, sim = station.chip, station.sim
    # locks start locked: a strike relay is inactive while locked
    assert chip.state() == {"lock-2": "0", "door-3": "1", "estop": "0", "ready": "0"}
    assert slots_of(station)[2]["lock"] == "locked"

    # slot 2's lock is a GPIO relay: unlock drives it, not the controller
    r = station.request("unlock", slot=2)
    assert r["ok"], r
    assert chip.recv("out") == "out lock-2=1"
    assert slots_of(station)[2]["lock"] == "unlocked"
    assert sim.op("get", slot=2)["registers"]["holding"][0] == 1  # controller untouched
    assert station.request("lock", slot=2)["ok"]
    assert chip.recv("out") == "out lock-2=0"

    # the door sensor (active low) of slot 3
    chip.set("door-3=0")
    assert station.wait_log(lambda l: "slot 3: door open (sensor)" in l)
    assert slots_of(station)[3]["door"] == "open"

    # the emergency stop turns charging off everywhere and keeps it off
    assert station.request("charge", slot=1, on="on")["ok"]
    assert sim.op("get", slot=1)["registers"]["holding"][1] == 1
    chip.set("estop=1")
    assert station.wait_log(lambda l: "emergency stop pressed" in l)
    wait_until(lambda: sim.op("get", slot=1)["registers"]["holding"][1] == 0, 5, "charging off")
    assert station.request("charge", slot=1, on="on")["error"] == "estop"
    st = station.request("status")["result"]
    assert st["health"] == "failed"
    chip.set("estop=0")
    assert station.wait_log(lambda l: "emergency stop released" in l)
    assert station.request("charge", slot=1, on="on")["ok"]

    # at shutdown every lock is locked again (it is already; unlock first)
    assert station.request("unlock", slot=2)["ok"]
    assert chip.recv("out") == "out lock-2=1"
    assert station.stop()[0] == 0
    assert chip.recv("out") == "out lock-2=0"


def subsystems(d):
    st = d.request("status")["result"]
    return st["health"], {s["name"]: (s["state"], s["detail"]) for s in st["subsystems"]}


def test_a_line_working_again_does_not_clear_a_pressed_estop(station):
    """The "gpio" entry (its lines) and the "estop" entry (the stop) have
    one writer each: a door sensor that fails and recovers while the stop
    is pressed used to overwrite "emergency stop pressed" with ok."""
    chip = station.chip
    assert subsystems(station)[1]["estop"] == ("ok", "released")
    chip.set("estop=1")
    assert station.wait_log(lambda l: "emergency stop pressed" in l)
    chip.set("door-3=fail")
    assert station.wait_log(lambda l: "gpio: cannot read line door-3" in l)
    health, subs = subsystems(station)
    assert subs["gpio"][0] == "failed" and "door-3" in subs["gpio"][1]
    assert subs["estop"] == ("failed", "emergency stop pressed")
    chip.set("door-3=ok")
    assert station.wait_log(lambda l: "gpio: line door-3 works again" in l)
    health, subs = subsystems(station)
    assert subs["gpio"][0] == "ok"
    assert subs["estop"] == ("failed", "emergency stop pressed")
    assert health == "failed"
    assert station.request("charge", slot=1, on="on")["error"] == "estop"
    chip.set("estop=0")
    assert station.wait_log(lambda l: "emergency stop released" in l)
    assert subsystems(station)[0] == "ok"


def test_gpio_lock_without_line_is_a_config_error(tmp_path):
    sim = RackSim(tmp_path).start()
    d = Daemon(tmp_path)
    try:
        cfg = rack_config(d, sim, PROFILE)
        cfg["rack"]["slots"][0]["lock"] = "gpio"
        cfg["gpio"] = {"chip": "sim:" + str(tmp_path / "g.sock"), "lines": [
            {"role": "door", "slot": 9, "line": "door-9"},
            {"role": "light", "line": "x", "slot": 2}]}
        d.write_config(cfg)
        d.start(wait_ready=False)
        assert d.proc.wait(10) == 78
        err = d.drain_stderr()
        assert 'rack.slots[0].lock: "gpio", but gpio.lines has no lock for slot 1' in err
        assert "gpio.lines[0].slot: 9 is not a slot in rack.slots" in err
        assert "gpio.lines[1].slot" in err
    finally:
        d.close()
        sim.kill()
