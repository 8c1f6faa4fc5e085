"""End to end: the battery fault detectors (daemon/fault_battery.c,
daemon/FAULTS.md) on rack-sim with a real mosquitto subscriber. An
over-temperature reading turns charging off at the controller within a
poll cycle, read back, quarantines the battery, and reaches the fleet
(fault.raised) and `swapctl faults`; a low-SOH battery's quarantine is its
fault, and its release clears it (fault.cleared). Over-temperature's own
clearing takes 600 s of cool battery: tests/unit/test_fault_battery.c
drives it in simulated time."""
import pytest

from station import STATION, Station
from swapd_fixture import slots_of, wait_until
from test_sync import Broker
from test_sync_cmd import Fleet


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path).start()
    yield b
    b.stop()


@pytest.fixture
def station(tmp_path, broker):
    """Three slots, a half-charged battery charging in slot 1, critical at
    55 C (under the firmware's own cut at 60 C, so that it is swapd that
    stops the charger), connected to the broker."""
    st = Station(tmp_path, slots=3,
                 config={"sync": {"host": "127.0.0.1", "port": broker.port,
                                  "backoff_min_ms": 100, "backoff_max_ms": 500, "keepalive_s": 5},
                         "charge": {"auto": True},
                         "faults": {"warn_temp_c": 50, "crit_temp_c": 55}})
    try:
        st.sim.start()
        st.sim.op("insert", slot=1, battery=4201, soc=50, soh=97, force=True)
        st._start_swapd()
        wait_until(lambda: st.request("sync")["result"]["state"] == "connected", 10, "connected")
        wait_until(lambda: st.sim_slot(1)["charger_on"], 10, "charging on slot 1")
        yield st
    finally:
        st.close()


def heard(fleet, kind):
    return [e for e in fleet.of("event") if e["type"] == kind]


def test_over_temperature_stops_charging(broker, station):
    st = station
    fleet = Fleet(broker.port, STATION)
    try:
        st.sim.op("fault", slot=1, kind="overtemp", value=57)
        wait_until(lambda: not st.sim_slot(1)["charger_on"], 2, "charging off at rack-sim")
        wait_until(lambda: any(e["code"] == "over_temperature" for e in heard(fleet, "fault.raised")),
                   5, "fault.raised at the fleet")
        raised = next(e for e in heard(fleet, "fault.raised") if e["code"] == "over_temperature")
        assert raised["slot"] == 1 and raised["battery"] == "BAT-04201" and raised["level"] == 1
        wait_until(lambda: slots_of(st.daemon)[1]["state"] == "quarantined", 5, "quarantined")
        out = st.swapctl("faults")
        assert out.returncode == 0, out.stderr
        f = next(f for f in out.json["faults"] if f["code"] == "over_temperature")
        stop = next(a for a in f["actions"] if a["action"] == "stop charging")
        assert stop["outcome"] == "ok", f
        # read back at the controller within a poll cycle of the reading
        # (50 ms here, three slots a cycle: well under half a second)
        assert stop["at"] - f["since"] < 500, f
        quarantine = next(a for a in f["actions"] if a["action"] == "quarantine the battery")
        assert quarantine["outcome"] == "ok", f
        assert any(e["type"] == "battery.quarantined" for e in fleet.of("event"))
        assert not st.sim_slot(1)["charger_on"]
    finally:
        fleet.close()


def test_low_soh_raised_and_cleared(broker, station):
    st = station
    fleet = Fleet(broker.port, STATION)
    try:
        st.sim.op("insert", slot=2, battery=4202, soc=50, soh=60, force=True)
        wait_until(lambda: any(e["code"] == "low_soh" for e in heard(fleet, "fault.raised")),
                   5, "low_soh at the fleet")
        raised = next(e for e in heard(fleet, "fault.raised") if e["code"] == "low_soh")
        assert raised["slot"] == 2 and raised["battery"] == "BAT-04202"
        out = st.swapctl("faults")
        assert any(f["code"] == "low_soh" and f["slot"] == 2 for f in out.json["faults"])
        r = st.request("battery-release", battery="4202", reason="checked")
        assert r["ok"], r
        wait_until(lambda: any(e.get("code") == "low_soh" for e in heard(fleet, "fault.cleared")),
                   5, "fault.cleared at the fleet")
        out = st.swapctl("faults")
        assert not any(f["code"] == "low_soh" for f in out.json["faults"])
    finally:
        fleet.close()
