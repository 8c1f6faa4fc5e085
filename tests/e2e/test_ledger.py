"""End to end: the battery ledger of the real swapd polling rack-sim, as
`swapctl batteries` shows it (a table, and --json): batteries put in and
taken out outside a swap, one quarantined for its low SOH and released,
a slot taken out of service, and all of it kept across a restart."""
import json
import os
import subprocess

import pytest

from conftest import ROOT, bin_path
from swapd_fixture import Daemon, RackSim, rack_config, slots_of, wait_until

PROFILE = os.path.join(ROOT, "config/profiles/swapd-slot-v1.json")


@pytest.fixture
def sim(tmp_path):
    s = RackSim(tmp_path, slots=3).start()
    yield s
    s.kill()


@pytest.fixture
def station(tmp_path, sim):
    d = Daemon(tmp_path)
    d.write_config(rack_config(d, sim, PROFILE, slots=3))
    d.start()
    wait_until(lambda: all(s["online"] for s in slots_of(d).values()), 10, "slots online")
    yield d
    d.close()


def swapctl(station, *args):
    r = subprocess.run([bin_path("swapctl"), "-s", station.sock, *args], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    return r.stdout


def ledger(station):
    """The ledger by battery, as swapctl batteries --json gives it."""
    return {b["battery"]: b for b in json.loads(swapctl(station, "batteries", "--json"))["batteries"]}


def table_row(station, battery):
    lines = swapctl(station, "batteries").splitlines()
    assert lines[0].split()[:4] == ["BATTERY", "PLACE", "SLOT", "HOLDER"], lines[0]
    return next(l for l in lines[1:] if l.split()[0] == battery)


def test_batteries_in_out_quarantine_restart(station, sim):
    sim.op("battery", battery=42, soc=63.5, soh=91.0)
    sim.op("insert", slot=2, battery=42, force=True)
    wait_until(lambda: ledger(station).get("BAT-00042", {}).get("soh") is not None, 10,
               "BAT-00042 in the ledger with its values")
    b = ledger(station)["BAT-00042"]
    assert b["place"] == "slot" and b["slot"] == 2 and not b["quarantined"]
    assert b["soc"] == pytest.approx(63.5, abs=0.2) and b["soh"] == pytest.approx(91.0, abs=0.2)
    assert b["since"].endswith("Z") and b["read_at"].endswith("Z")
    row = table_row(station, "BAT-00042").split()
    assert row[1:3] == ["slot", "2"] and row[-1] == "-"

    # outside a swap with a low SOH: quarantined, and so is its slot
    sim.op("battery", battery=43, soc=80, soh=60)
    sim.op("insert", slot=3, battery=43, force=True)
    wait_until(lambda: ledger(station).get("BAT-00043", {}).get("quarantined"), 10,
               "BAT-00043 quarantined")
    assert "quarantined: low_soh" in table_row(station, "BAT-00043")
    wait_until(lambda: slots_of(station)[3]["state"] == "quarantined", 5, "slot 3 quarantined")
    assert station.sql("SELECT json_extract(payload, '$.battery'), json_extract(payload, '$.slot'),"
                       " json_extract(payload, '$.reason') FROM outbox"
                       " WHERE type = 'battery.quarantined'") == [("BAT-00043", 3, "low_soh")]
    swapctl(station, "battery-release", "BAT-00043", "inspected: cells fine")
    assert not ledger(station)["BAT-00043"]["quarantined"]
    wait_until(lambda: slots_of(station)[3]["state"] != "quarantined", 5, "slot 3 released")
    assert station.sql("SELECT count(*) FROM outbox WHERE type = 'battery.released'") == [(1,)]

    # taken outside a swap: unknown, with its last slot
    swapctl(station, "unlock", "2")
    wait_until(lambda: not sim.op("get", slot=2)["lock_closed"], 5, "slot 2's bolt open")
    sim.op("open", slot=2)
    sim.op("remove", slot=2)
    sim.op("close", slot=2)
    wait_until(lambda: ledger(station)["BAT-00042"]["place"] == "unknown", 10, "BAT-00042 gone")
    assert ledger(station)["BAT-00042"]["slot"] == 2

    swapctl(station, "slot-quarantine", "1", "door sticks")
    wait_until(lambda: slots_of(station)[1]["state"] == "quarantined", 5, "slot 1 out of service")

    assert station.stop()[0] == 0
    station.start()
    wait_until(lambda: all(s["online"] for s in slots_of(station).values()), 10, "slots online")
    after = ledger(station)
    assert after["BAT-00042"]["place"] == "unknown"
    assert after["BAT-00043"]["place"] == "slot" and after["BAT-00043"]["slot"] == 3
    assert slots_of(station)[1]["state"] == "quarantined"


def test_refusals(station, sim):
    r = subprocess.run([bin_path("swapctl"), "-s", station.sock, "battery-quarantine", "BAT-00077",
                        "recall"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and "unknown_battery" in r.stderr
    r = subprocess.run([bin_path("swapctl"), "-s", station.sock, "staff-open", "1"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and "no_session" in r.stderr
