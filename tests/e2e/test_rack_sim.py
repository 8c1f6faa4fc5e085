"""rack-sim against a Modbus master nobody here wrote (Debian's mbpoll,
libmodbus inside), against raw frames, and through its control socket:
the register map of firmware/REGISTERS.md, exceptions, silence on bad CRC
and foreign units, broadcasts, pacing at the baud rate, the firmware's
safety functions, the battery physics, scenarios and profiles."""
import json
import os
import subprocess
import time

import pytest

import conftest
from test_rack_sim_util import Port, frame, mbpoll, read_req, rack_sim, write_req  # noqa: F401

ROOT = conftest.ROOT
BATTERY = 0x0123456789ABCDEF


def words(v, n):
    return [(v >> (16 * (n - 1 - i))) & 0xFFFF for i in range(n)]


def test_mbpoll_reads_and_writes_the_register_map(rack_sim):
    sim = rack_sim(slots=3)
    ctl = sim.control
    ctl.ok("insert", slot=2, battery=hex(BATTERY), soc=40, temperature=31.5, cycles=500,
           force=True)
    truth = ctl.ok("get", slot=2)["battery"]

    out, r = mbpoll(sim.link, "-t", 3, "-r", 0, "-c", 20, unit=2)
    assert len(r) == 20, out
    assert [r[0], r[1], r[2], r[4]] == [1, 0, 1, 0]  # present, door closed, locked, no fault
    assert r[3] == 1  # idle
    assert [r[5], r[6], r[7], r[8]] == words(BATTERY, 4)
    assert r[9] == 0x0100
    assert abs(r[10] - truth["voltage"] * 100) <= 1
    assert r[11] == 0
    assert r[12] == 315
    assert r[13] == 400
    assert r[14] == round(truth["soh"] * 10) == 900
    assert r[15] << 16 | r[16] == 500
    assert abs(r[17] - truth["resistance"] * 10) <= 1
    assert abs(r[18] - truth["cell_min"] * 1000) <= 1
    assert abs(r[19] - truth["cell_max"] * 1000) <= 1

    # mbpoll's own 32-bit decoding (high word first with -B) agrees
    out, r = mbpoll(sim.link, "-t", "3:int", "-B", "-r", 15, unit=2)
    assert r[15] == 500, out

    # an empty slot reads 0 where a battery would be
    out, r = mbpoll(sim.link, "-t", 3, "-r", 0, "-c", 20, unit=3)
    assert r[0] == 0 and r[3] == 0 and all(r[i] == 0 for i in range(5, 9)), out

    # writes: charge at 15.0 A, then read back through Modbus and the truth
    out, _ = mbpoll(sim.link, "-t", 4, "-r", 1, 1, 150, unit=2)
    assert "Written 2 references" in out, out
    out, r = mbpoll(sim.link, "-t", 4, "-r", 0, "-c", 5, unit=2)
    assert [r[0], r[1], r[2], r[4]] == [1, 1, 150, 5], out
    got = ctl.wait(2, lambda g: g["charger_on"])
    assert got["current_limit"] == 15.0
    assert got["registers"]["holding"] == [1, 1, 150, 0, 5, 0]  # fault_reset reads 0
    g = ctl.wait(2, lambda g: g["battery"]["current"] > 0)
    assert g["battery"]["current"] == pytest.approx(15.0)


def test_exceptions(rack_sim):
    sim = rack_sim(slots=2)
    out, _ = mbpoll(sim.link, "-t", 3, "-r", 1, "-c", 20)
    assert "Illegal data address" in out
    out, _ = mbpoll(sim.link, "-t", 4, "-r", 4, 0)  # watchdog 0 s
    assert "Illegal data value" in out
    out, _ = mbpoll(sim.link, "-t", 4, "-r", 2, 501)  # 50.1 A
    assert "Illegal data value" in out
    out, _ = mbpoll(sim.link, "-t", 0, "-r", 0)  # coils: function 01
    assert "Illegal function" in out
    port = Port(sim.link)
    try:
        assert port.transact(frame(1, 0x2B, 0x0E, 1, 0)) == frame(1, 0xAB, 1)
        assert port.transact(read_req(2, 4, 0, 126)) == frame(2, 0x84, 3)
    finally:
        port.close()


def test_bad_crc_and_other_units_get_no_reply(rack_sim):
    sim = rack_sim(slots=2)
    ctl = sim.control
    port = Port(sim.link)
    try:
        good = write_req(1, 2, 77)
        bad = bytearray(good)
        bad[-1] ^= 0x01
        assert port.transact(bytes(bad), timeout=0.3) == b""
        assert ctl.ok("get", slot=1)["registers"]["holding"][2] == 100
        assert port.transact(write_req(3, 2, 77), timeout=0.3) == b""  # no unit 3
        # garbage on the line, then the same master carries on
        assert port.transact(bytes(range(256)) * 2, timeout=0.3) == b""
        assert port.transact(good) == good
        assert ctl.ok("get", slot=1)["registers"]["holding"][2] == 77
    finally:
        port.close()
    # mbpoll sees the silence as a timeout
    out, _ = mbpoll(sim.link, "-t", 3, "-r", 0, unit=9)
    assert "timed out" in out.lower()


def test_broadcast_write_is_executed_unanswered(rack_sim):
    sim = rack_sim(slots=3)
    port = Port(sim.link)
    try:
        assert port.transact(write_req(0, 4, 7), timeout=0.3) == b""
        assert port.transact(read_req(0, 3, 0, 1), timeout=0.3) == b""
    finally:
        port.close()
    for s in (1, 2, 3):
        assert sim.control.ok("get", slot=s)["registers"]["holding"][4] == 7


def test_replies_are_paced_at_the_baud_rate(rack_sim):
    # 45-byte reply at 9600 baud: 45 * 11 / 9600 = 51.6 ms on the line,
    # after the request's own t3.5 (4 ms); at 115200 baud about 6 ms.
    for baud, lo, hi in ((9600, 0.054, 0.5), (115200, 0.0055, 0.045)):
        sim = rack_sim(slots=1, baud=baud)
        port = Port(sim.link)
        try:
            req = read_req(1, 4, 0, 20)
            t0 = time.monotonic()
            os.write(port.fd, req)
            got = b""
            while len(got) < 45 and time.monotonic() - t0 < 1:
                got += port.receive(1, gap=0.001)
            dt = time.monotonic() - t0
        finally:
            port.close()
        assert len(got) == 45
        assert lo <= dt <= hi, (baud, dt)


def test_unlock_time_is_stamped_when_the_write_is_taken(rack_sim):
    """unlocked_at_us is CLOCK_MONOTONIC (Python's time.monotonic) at the
    moment the firmware took the unlock write: after the request's 8 bytes
    and the t3.5 silence that ends it have passed on the line, and before
    its 8-byte echo could come back. A benchmark times scan-to-unlock by it."""
    baud = 19200
    char_us = 11e6 / baud
    sim = rack_sim(slots=2, baud=baud)
    ctl = sim.control
    assert ctl.ok("get", slot=1)["unlocked_at_us"] is None
    port = Port(sim.link)
    try:
        req = write_req(1, 0, 0)
        t0 = time.monotonic_ns() / 1000
        assert port.transact(req) == req
        t1 = time.monotonic_ns() / 1000
        g = ctl.ok("get", slot=1)
        assert g["unlocks"] == 1 and not g["lock_actuator"]
        at = g["unlocked_at_us"]
        assert t0 + 8 * char_us + 3.5 * char_us <= at <= t1 - 8 * char_us, (t0, at, t1)
        assert [s["unlocked_at_us"] for s in ctl.ok("list")["slots"]] == [at, None]
        # locking again leaves the stamp; the next unlock moves it on
        assert port.transact(write_req(1, 0, 1)) == write_req(1, 0, 1)
        assert ctl.ok("get", slot=1)["unlocked_at_us"] == at
        assert port.transact(req) == req
        g = ctl.ok("get", slot=1)
        assert g["unlocks"] == 2 and g["unlocked_at_us"] > at
    finally:
        port.close()


def test_master_lost_safe_state(rack_sim):
    sim = rack_sim(slots=1)
    ctl = sim.control
    ctl.ok("insert", slot=1, battery=5, soc=50, force=True)
    # unlock, enable charging, 1 s watchdog, all in one write (function 16)
    out, _ = mbpoll(sim.link, "-t", 4, "-r", 0, 0, 1, 100, 1, 1)
    assert "Written 5 references" in out, out
    g = ctl.wait(1, lambda g: not g["lock_closed"])
    assert g["fault_bits"] & 4 == 0
    # the master falls silent: the slot locks, stops charging, flags it
    g = ctl.wait(1, lambda g: g["fault_bits"] & 4, timeout=3)
    assert g["state"] == 4 and g["lock_actuator"] and not g["charger_on"]
    assert g["registers"]["holding"][0:2] == [1, 0]
    ctl.wait(1, lambda g: g["lock_closed"])
    # a read does not clear the flag, a heartbeat does
    out, r = mbpoll(sim.link, "-t", 3, "-r", 4)
    assert r[4] & 4, out
    mbpoll(sim.link, "-t", 4, "-r", 3, 1)
    out, r = mbpoll(sim.link, "-t", 3, "-r", 3, "-c", 2)
    assert r[4] & 4 == 0 and r[3] == 1, out


def test_firmware_cutoffs_and_injected_faults(rack_sim):
    sim = rack_sim(slots=4)
    ctl = sim.control
    for s in (1, 2, 3, 4):
        ctl.ok("insert", slot=s, battery=100 + s, soc=60, force=True)
    out, _ = mbpoll(sim.link, "-t", 4, "-r", 1, 1, 200, 0, 3600, unit=1)
    for s in (2, 3):
        mbpoll(sim.link, "-t", 4, "-r", 1, 1, 200, 0, 3600, unit=s)
    ctl.wait(1, lambda g: g["charger_on"])
    # over-temperature: the firmware cuts whatever the master said
    ctl.ok("fault", slot=1, kind="overtemp", value=65)
    g = ctl.wait(1, lambda g: g["fault_bits"] & 1)
    assert not g["charger_on"] and g["registers"]["holding"][1] == 0
    # cell imbalance pushing a cell over 4.25 V
    ctl.ok("fault", slot=2, kind="imbalance", value=700)
    g = ctl.wait(2, lambda g: g["fault_bits"] & 2)
    assert not g["charger_on"]
    # BMS nonsense
    ctl.ok("fault", slot=3, kind="bms_nonsense")
    g = ctl.wait(3, lambda g: g["fault_bits"] & 16)
    assert not g["charger_on"]
    out, r = mbpoll(sim.link, "-t", 3, "-r", 13, unit=3)
    assert r[13] == 0xFFFF, out  # the nonsense is reported as it came
    # stuck lock: commanded open, still closed after 2 s
    ctl.ok("fault", slot=4, kind="stuck_lock")
    mbpoll(sim.link, "-t", 4, "-r", 0, 0, unit=4)
    g = ctl.wait(4, lambda g: g["fault_bits"] & 8, timeout=4)
    assert g["lock_closed"] and not g["lock_actuator"]
    r = ctl("open", slot=4)
    assert not r["ok"] and "locked" in r["error"]
    # a silenced slot answers nothing
    ctl.ok("silence", slot=4)
    out, _ = mbpoll(sim.link, "-t", 3, "-r", 0, unit=4)
    assert "timed out" in out.lower()


def test_charging_physics_cc_then_cv(rack_sim):
    sim = rack_sim(slots=1, extra=["--time-scale", "400"])
    ctl = sim.control
    ctl.ok("insert", slot=1, battery=7, soc=85, force=True)
    mbpoll(sim.link, "-t", 4, "-r", 1, 1, 200, 0, 3600)
    g = ctl.wait(1, lambda g: g["battery"]["current"] > 0)
    b = g["battery"]
    # constant current at the limit, terminal voltage of the equivalent circuit
    assert b["current"] == pytest.approx(20.0)
    assert b["voltage"] == pytest.approx(b["ocv"] + b["v_rc"] + 20.0 * b["resistance"] / 1000,
                                         abs=1e-6)
    soc0, t0 = b["soc"], b["temperature"]
    # then the CV taper: the current falls below the limit, at 4.15 V a cell
    g = ctl.wait(1, lambda g: 0 < g["battery"]["current"] < 15, timeout=15)
    b = g["battery"]
    assert b["soc"] > soc0 and b["temperature"] > t0
    assert b["voltage"] == pytest.approx(14 * 4.15, abs=0.02)
    assert b["v_rc"] > 0
    # and the registers say the same as the truth
    out, r = mbpoll(sim.link, "-t", 3, "-r", 10, "-c", 4)
    g2 = ctl.ok("get", slot=1)["battery"]
    assert abs(r[13] - g2["soc"] * 10) <= 5, out
    assert r[11] > 0


def test_battery_keeps_its_state_between_slots(rack_sim):
    sim = rack_sim(slots=2)
    ctl = sim.control
    ctl.ok("battery", battery="0xB0B", soc=33, soh=91, temperature=40)
    ctl.ok("insert", slot=1, battery="0xB0B", force=True)
    r = ctl("insert", slot=2, battery="0xB0B", force=True)
    assert not r["ok"] and "is in slot 1" in r["error"]
    r = ctl("remove", slot=1)
    assert not r["ok"] and "door is locked" not in r["error"] and "door is closed" in r["error"]
    mbpoll(sim.link, "-t", 4, "-r", 0, 0, unit=1)  # unlock
    ctl.wait(1, lambda g: not g["lock_closed"])
    ctl.ok("open", slot=1)
    assert ctl.ok("remove", slot=1)["battery"] == 0xB0B
    out, r = mbpoll(sim.link, "-t", 3, "-r", 0, "-c", 1, unit=1)
    assert r[0] == 0, out
    ctl.ok("insert", slot=2, battery="0xB0B", force=True)
    out, r = mbpoll(sim.link, "-t", 3, "-r", 12, "-c", 3, unit=2)
    assert r[13] == 330 and r[14] == 910 and 395 <= r[12] <= 400, out


def unlock(port, unit):
    assert port.transact(write_req(unit, 0, 0)) == write_req(unit, 0, 0)


def test_rider_verbs_refused_at_a_locked_door(rack_sim):
    sim = rack_sim(slots=2)
    ctl = sim.control
    ctl.ok("insert", slot=1, battery=11, soc=90, force=True)
    before = ctl.ok("list")
    for op, args in (("return", {"slot": 2, "battery": 22}), ("take", {"slot": 1}),
                     ("leave_open", {"slot": 1}), ("close_empty", {"slot": 2})):
        r = ctl(op, **args)
        assert r == {"ok": False, "error": f"slot {args['slot']}: the door is locked: a rider "
                     "cannot open it"}, (op, r)
    after = ctl.ok("list")
    assert [(s["battery"], s["door_open"]) for s in after["slots"]] == \
        [(s["battery"], s["door_open"]) for s in before["slots"]] == [(11, False), (None, False)]
    assert [b["id"] for b in after["batteries"]] == [11]  # battery 22 was never made


def test_rider_returns_and_takes_as_a_master_sees_it(rack_sim):
    """What a polling master reads over the bus while a rider returns a
    battery, takes one, shuts a door on nothing and leaves one open."""
    sim = rack_sim(slots=2)
    ctl = sim.control
    ctl.ok("insert", slot=1, battery="0xA1", soc=95, force=True)
    port = Port(sim.link)
    try:
        unlock(port, 1)
        unlock(port, 2)
        # a return: the battery is in at once, the door shut after the dwell
        r = ctl.ok("return", slot=2, battery="0xB2", soc=12, soh=80, dwell=0.5)
        assert r["battery"] == 0xB2 and r["door_open"] and r["closes_at"] > 0
        assert port.regs(2, 4, 0, 2) == [1, 1]  # present, door open
        assert port.regs(2, 4, 5, 4) == [0, 0, 0, 0xB2]  # its id
        g = ctl.wait(2, lambda g: not g["door_open"])
        assert g["sim_time"] >= r["closes_at"] and g["closes_at"] is None
        assert g["battery"]["soc"] == pytest.approx(12) and g["battery"]["soh"] == pytest.approx(80)
        assert port.regs(2, 4, 0, 2) == [1, 0]  # present, door shut
        # a take at once: the id taken, the slot empty, the battery off the rack
        r = ctl.ok("take", slot=1, dwell=0)
        assert r["battery"] == 0xA1 and not r["door_open"] and r["closes_at"] is None
        assert port.regs(1, 4, 0, 2) == [0, 0]
        assert {b["id"]: b["slot"] for b in ctl.ok("list")["batteries"]} == {0xA1: 0, 0xB2: 2}
        # what cannot be done is refused and changes nothing
        for op, args, msg in (
                ("return", {"slot": 2, "battery": 5}, "slot 2 already holds battery 178: no room"),
                ("return", {"slot": 1, "battery": "0xB2"}, "battery 178 is in slot 2, not in the "
                                                           "rider's hands"),
                ("return", {"slot": 1, "battery": 5, "soc": 101}, "soc: 101 is out of range"),
                ("return", {"slot": 1, "battery": 5, "dwell": -1}, "dwell: -1 is out of range"),
                ("take", {"slot": 1}, "slot 1 is empty: nothing to take")):
            r = ctl(op, **args)
            assert not r["ok"] and msg in r["error"], (op, args, r)
        assert [(s["battery"], s["door_open"]) for s in ctl.ok("list")["slots"]] == \
            [(None, False), (0xB2, False)]
        assert 5 not in [b["id"] for b in ctl.ok("list")["batteries"]]
        # a door shut on nothing: seen open, then shut, still empty
        r = ctl.ok("close_empty", slot=1, dwell=0.3)
        assert r["battery"] is None and r["door_open"]
        assert port.regs(1, 4, 0, 2) == [0, 1]
        ctl.wait(1, lambda g: not g["door_open"])
        assert port.regs(1, 4, 0, 2) == [0, 0]
        # a door left open stays open; the engineer's close cancels a shut
        r = ctl.ok("leave_open", slot=1)
        assert r["door_open"] and r["closes_at"] is None
        t = ctl.ok("get", slot=1)["sim_time"]
        g = ctl.wait(1, lambda g: g["sim_time"] > t + 0.5)
        assert g["door_open"] and port.regs(1, 4, 1, 1) == [1]
        assert ctl.ok("close_empty", slot=2, dwell=100)["closes_at"] is not None
        ctl.ok("close", slot=2)
        assert ctl.ok("get", slot=2)["closes_at"] is None
        # an open door needs no unlocking: locked behind it, a rider still
        # returns a battery through it
        assert port.transact(write_req(1, 0, 1)) == write_req(1, 0, 1)
        ctl.wait(1, lambda g: g["lock_closed"])
        assert ctl.ok("return", slot=1, battery=7, dwell=0)["door_open"] is False
        assert port.regs(1, 4, 0, 3) == [1, 0, 1]  # present, shut, locked
    finally:
        port.close()


def test_control_socket_bad_input(rack_sim):
    sim = rack_sim(slots=2)
    ctl = sim.control
    cases = [
        ("{", "bad JSON"),
        ("[1]", "not a JSON object"),
        ('{"slot": 1}', "op: missing"),
        ('{"op": "dance"}', '"dance" is not a verb'),
        ('{"op": "get", "slot": 3}', "slot: 3 is out of range 1..2"),
        ('{"op": "get", "slot": "1"}', 'slot: "1" is not a number'),
        ('{"op": "insert", "slot": 1, "battery": -4, "force": true}', "battery: -4 is not a battery id"),
        ('{"op": "insert", "slot": 1, "battery": 9}', "door is closed"),
        ('{"op": "fault", "slot": 1, "kind": "overtemp"}', "needs a battery"),
        ('{"op": "fault", "slot": 1, "kind": "gremlins"}', '"gremlins" is not one of'),
        ('{"op": "noise", "rate": 2}', "rate: 2 is out of range 0..1"),
        ("x" * 5000, "longer than 4095 bytes"),
    ]
    for line, msg in cases:
        r = ctl.raw(line)
        assert r["ok"] is False and msg in r["error"], (line[:40], r)
    assert ctl.ok("get", slot=1)["slot"] == 1
    assert sim.proc.poll() is None


def test_noise_corrupts_frames(rack_sim):
    sim = rack_sim(slots=1)
    sim.control.ok("noise", rate=1.0, seed=42)
    out, _ = mbpoll(sim.link, "-t", 3, "-r", 0, "-c", 5)
    assert "CRC" in out or "timed out" in out.lower(), out
    sim.control.ok("noise", rate=0)
    out, r = mbpoll(sim.link, "-t", 3, "-r", 0, "-c", 5)
    assert len(r) == 5, out


SCENARIO = """# a customer swap with a hot battery
{"at": 0, "op": "battery", "battery": 42, "soc": 20}
{"at": 0, "op": "insert", "slot": 2, "battery": 42, "force": true}
{"at": 0, "op": "insert", "slot": 1, "battery": 43, "soc": 90, "force": true}

{"at": 30, "op": "fault", "slot": 2, "kind": "overtemp", "value": 70}
{"at": 30, "op": "open", "slot": 1}
"""


def test_scenario_file(rack_sim, tmp_path):
    path = tmp_path / "swap.scn"
    path.write_text(SCENARIO)
    sim = rack_sim(slots=2, extra=["--scenario", str(path), "--time-scale", "100"])
    ctl = sim.control
    g = ctl.wait(2, lambda g: g["battery"] is not None)
    assert g["battery"]["id"] == 42 and g["battery"]["soc"] == pytest.approx(20, abs=0.1)
    g = ctl.wait(2, lambda g: g["fault_bits"] & 1)
    assert g["battery"]["temperature"] > 60
    # opening a locked door fails: logged with the file and line, run goes on
    line = conftest.wait_line(sim.proc.stderr, lambda l: "swap.scn:7:" in l, 5)
    assert line and "locked" in line
    assert ctl.ok("get", slot=1)["battery"]["id"] == 43


@pytest.mark.parametrize("text, msg", [
    ('{"at": 0, "op": "insert"\n', "t.scn:1: bad JSON"),
    ('# c\n{"at": 5, "op": "get"}\n{"at": 4, "op": "get"}\n', "t.scn:3: at:"),
    ('{"at": 1, "op": "explode"}\n', "t.scn:1: op:"),
    ('[]\n', "t.scn:1: not a JSON object"),
])
def test_bad_scenario_file_is_refused(tmp_path, text, msg):
    path = tmp_path / "t.scn"
    path.write_text(text)
    p = subprocess.run([conftest.bin_path("rack-sim"), "--link", str(tmp_path / "l"),
                        "--scenario", str(path)], capture_output=True, text=True, timeout=5)
    assert p.returncode == 2 and msg in p.stderr, p.stderr


def test_builtin_map_is_the_default_profile():
    out = subprocess.run([conftest.bin_path("rack-sim"), "--print-profile"], check=True,
                         capture_output=True, text=True).stdout
    with open(os.path.join(ROOT, "config/profiles/swapd-slot-v1.json")) as f:
        assert json.loads(out) == json.load(f)


def test_vendor_b_profile(rack_sim):
    sim = rack_sim(slots=2, extra=["--profile", os.path.join(ROOT, "config/profiles/vendor-b.json")])
    ctl = sim.control
    ctl.ok("insert", slot=2, battery=hex(BATTERY), soc=40, temperature=31.5, cycles=70000,
           force=True)
    truth = ctl.ok("get", slot=2)
    b = truth["battery"]
    out, r = mbpoll(sim.link, "-t", 3, "-r", 100, "-c", 5, unit=2)
    assert [r[100], r[101], r[102], r[104]] == [1, 0, 1, 0], out
    # 64-bit id, low word first
    out, r = mbpoll(sim.link, "-t", 3, "-r", 110, "-c", 4, unit=2)
    assert [r[110], r[111], r[112], r[113]] == words(BATTERY, 4)[::-1], out
    # mbpoll's default 32-bit word order is low word first, as vendor-b's
    out, r = mbpoll(sim.link, "-t", "3:int", "-r", 200, "-c", 2, unit=2)
    regs = truth["registers"]["input"]
    assert r[200] == regs[10] * 10, out  # mV from the firmware's 10 mV
    assert r[202] == 0
    out, r = mbpoll(sim.link, "-t", "3:int", "-r", 207, unit=2)
    assert r[207] == 70000, out
    out, r = mbpoll(sim.link, "-t", 3, "-r", 204, "-c", 8, unit=2)
    assert r[204] == 30465  # (31.5 + 273.15) / 0.01
    assert r[205] == 4000 and r[206] == round(b["soh"] * 100)
    assert abs(r[209] - b["resistance"] * 100) <= 10  # 0.01 mOhm from 0.1 mOhm
    assert r[210] == regs[18] * 10 and r[211] == regs[19] * 10
    out, r = mbpoll(sim.link, "-t", 3, "-r", 220, unit=2)
    assert r[220] == 0x0100
    # gaps inside the map read 0, outside it are an illegal address
    out, r = mbpoll(sim.link, "-t", 3, "-r", 105, "-c", 2, unit=2)
    assert r == {105: 0, 106: 0}, out
    out, _ = mbpoll(sim.link, "-t", 3, "-r", 0, unit=2)
    assert "Illegal data address" in out
    # writes: 12.34 A in 0.01 A, a 90 s watchdog as u32 ms low word first
    out, _ = mbpoll(sim.link, "-t", 4, "-r", 1001, 1, 1234, unit=2)
    assert "Written 2" in out, out
    out, _ = mbpoll(sim.link, "-t", "4:int", "-r", 1004, 90000, unit=2)
    assert "Written 1" in out, out
    h = ctl.ok("get", slot=2)["registers"]["holding"]
    assert h[1] == 1 and h[2] == 123 and h[4] == 90
    out, r = mbpoll(sim.link, "-t", "4:int", "-r", 1004, unit=2)
    assert r[1004] == 90000, out
    # a value the firmware refuses is refused through the profile too
    out, _ = mbpoll(sim.link, "-t", 4, "-r", 1000, 2, unit=2)
    assert "Illegal data value" in out
    # writing half of a 32-bit field is an illegal address
    out, _ = mbpoll(sim.link, "-t", 4, "-r", 1005, 1, unit=2)
    assert "Illegal data address" in out


def test_example_fault_scenario(rack_sim):
    path = os.path.join(ROOT, "tools/rack-sim/scenarios/faults.jsonl")
    sim = rack_sim(slots=8, extra=["--scenario", path, "--time-scale", "1000"])
    ctl = sim.control
    g = ctl.wait(1, lambda g: g["fault_bits"] & 1)
    assert g["battery"]["temperature"] > 60
    ctl.wait(5, lambda g: g["fault_bits"] & 16)
    ctl.wait(7, lambda g: g["door_open"])
    ctl.wait(6, lambda g: g["sim_time"] > 320 and not g["silent"])
    g, g4 = ctl.ok("get", slot=2), ctl.ok("get", slot=4)
    assert g["battery"]["heater_w"] == 60
    assert g["battery"]["temperature"] > g4["battery"]["temperature"] + 3  # heated
    assert g4["stuck_lock"]
    assert ctl.ok("get", slot=3)["battery"]["imbalance_mv"] == 120
    assert conftest.read_line(sim.proc.stderr, 0.1) is None  # every step applied


@pytest.mark.parametrize("name", sorted(os.listdir(os.path.join(ROOT, "tools/rack-sim/scenarios"))))
def test_example_scenarios_load(rack_sim, name):
    rack_sim(slots=8, extra=["--scenario", os.path.join(ROOT, "tools/rack-sim/scenarios", name)],
             control=False)
